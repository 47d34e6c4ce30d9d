"""The front page stays short and the docs site stays whole."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_a_short_front_page():
    assert (ROOT / "README.md").stat().st_size <= 12 * 1024


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_page_in_the_nav_exists_or_is_generated():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    generated = {"cli.md"}  # docs/_hooks.py
    missing = [p for p in _nav_pages(config["nav"]) if p not in generated and not (ROOT / "docs" / p).is_file()]
    assert missing == []


def test_readme_links_lead_to_files():
    text = (ROOT / "README.md").read_text()
    targets = [t for t in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text) if "://" not in t]
    assert targets, "the README links to the docs"
    assert [t for t in targets if not (ROOT / t).exists()] == []
