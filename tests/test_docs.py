"""The front page stays short and the docs site stays whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


FIGURE_PAGES = ["performance.md"]  # pages whose every table is measured figures


def _blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"<!-- figures: (\S+) -->\n(.*?)<!-- /figures: \1 -->", text, re.S)


def test_measured_tables_are_written_by_their_bench():
    for page in FIGURE_PAGES:
        text = (ROOT / "docs" / page).read_text()
        blocks = _blocks(text)
        assert blocks, page
        outside = re.sub(r"<!-- figures: (\S+) -->\n.*?<!-- /figures: \1 -->", "", text, flags=re.S)
        assert not re.search(r"^\|.*\|\s*$", outside, re.M), f"{page}: a table of figures outside a bench block"
        for key, body in blocks:
            script = ROOT / "bench" / f"{key}.py"
            assert script.is_file(), f"{page}: block {key} names no bench script"
            assert "--write-docs" in script.read_text() and f'"{key}"' in script.read_text()
            assert re.search(r"Measured by `python bench/" + key + r"\.py[^`]*` on \d{4}-\d{2}-\d{2}, ", body), key


def test_a_bench_replaces_only_its_own_block(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from _figures import publish

    page = tmp_path / "p.md"
    page.write_text("a\n<!-- figures: x -->\nold\n<!-- /figures: x -->\n<!-- figures: y -->\nkeep\n<!-- /figures: y -->\n")
    publish(page, "x", "| new |\n|---|", command="python bench/x.py", machine="m", date="2026-01-01")
    text = page.read_text()
    assert "old" not in text and "| new |" in text and "keep" in text
    assert "Measured by `python bench/x.py` on 2026-01-01, m." in text
    with pytest.raises(KeyError):
        publish(page, "z", "| t |", command="python bench/z.py")
