"""Write a bench's measured figures into the docs, with the command, the date and the machine.

A docs page holds each bench's table between two markers::

    <!-- figures: bench_synth -->
    ...written by the bench, never by hand...
    <!-- /figures: bench_synth -->

``publish(page, key, body, command=...)`` replaces what lies between them with ``body`` and a line
saying which command measured it, when, and on what machine. A bench calls it when run with
``--write-docs`` (``make bench`` passes it), so a figure in the docs is always the last run of the
script that measured it. ``tests/test_docs.py`` checks that every table of measured figures in the
docs lies inside such a block.

>>> import tempfile, pathlib
>>> page = pathlib.Path(tempfile.mkdtemp()) / "p.md"
>>> _ = page.write_text("# P\\n<!-- figures: demo -->\\nold\\n<!-- /figures: demo -->\\ntail\\n")
>>> publish(page, "demo", "| a |\\n|---|\\n| 1 |", command="python bench/x.py", machine="a test machine",
...         date="2026-12-03")
>>> print(page.read_text())
# P
<!-- figures: demo -->
| a |
|---|
| 1 |
<BLANKLINE>
Measured by `python bench/x.py` on 2026-12-03, a test machine.
<!-- /figures: demo -->
tail
<BLANKLINE>
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

__all__ = ["DOCS", "describe_machine", "publish"]

DOCS = Path(__file__).resolve().parents[1] / "docs"


def describe_machine() -> str:
    """The machine in words: CPU model and cores, GPU (if torch sees one), memory, torch, Python, load."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"{cores} CPU cores ({cpu})"]
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        parts.append(f"{pages * size / 2**30:.0f} GiB RAM")
    except (ValueError, OSError, AttributeError):
        pass
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
        parts.append(f"torch {torch.__version__.split('+')[0]}")
    except ImportError:
        pass
    parts.insert(1, gpu)
    parts.append(f"Python {platform.python_version()}, {platform.system()}")
    if hasattr(os, "getloadavg"):  # other work on the machine slows every wall-clock figure
        parts.append(f"load average {os.getloadavg()[0]:.1f} when written")
    return ", ".join(parts)


def publish(page: str | Path, key: str, body: str, *, command: str, machine: str | None = None,
            date: str | None = None) -> None:
    """Replace the ``key`` block of ``page`` (a path, or a name under ``docs/``) with ``body``.

    Raises ``KeyError`` when the page has no such block: a bench never invents where its figures go.
    """
    path = Path(page) if Path(page).is_absolute() or Path(page).exists() else DOCS / page
    text = path.read_text()
    pattern = re.compile(rf"(<!-- figures: {re.escape(key)} -->\n).*?(<!-- /figures: {re.escape(key)} -->)", re.S)
    if not pattern.search(text):
        raise KeyError(f"{path} has no '<!-- figures: {key} -->' block")
    when = date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    stamp = f"Measured by `{command}` on {when}, {machine or describe_machine()}."
    block = f"{body.strip()}\n\n{stamp}\n"
    text = pattern.sub(lambda m: m.group(1) + block + m.group(2), text, count=1)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
