"""Runs that stop part-way (Ctrl-C, SIGKILL) resume to exactly the output of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyogrio
import pytest
from affine import Affine

from geocot_cli.api import answer_scene, export_journal
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.config import TilingOptions
from geocot_cli.errors import ConfigError, OutputError
from geocot_cli.io.journal import journal_path, read_journal

from oracle import Interrupt, draw_scene, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
OBJECTS = [(100, 20, 130, 40), (390, 300, 430, 330), (700, 600, 760, 640), (1100, 820, 1150, 860)]
TILING = TilingOptions(tile=400, overlap=80)  # 4 x 3 = 12 tiles


@pytest.fixture
def scene_path(make_geotiff):
    return make_geotiff("harbour.tif", data=draw_scene(1200, 900, OBJECTS), transform=TRANSFORM)


def evidence_rows(path: Path) -> list[tuple]:
    gdf = pyogrio.read_dataframe(path, layer="evidence")
    return sorted(zip(gdf.geometry.to_wkt(), gdf["label"], gdf["claim"], gdf["tile_id"], gdf["trace"], gdf["merged_from"]))




def test_ctrl_c_then_resume_equals_a_clean_run(scene_path, tmp_path):
    clean = tmp_path / "clean.gpkg"
    answer_scene(scene_path, "detect", backend=ScriptedBackend(oracle_trace), tiling=TILING, out=clean, batch_size=2)

    out = tmp_path / "run.gpkg"
    with pytest.raises(KeyboardInterrupt):
        answer_scene(scene_path, "detect", backend=Interrupt(after=5), tiling=TILING, out=out,
                     batch_size=2, journal=journal_path(out))
    assert not out.exists()
    _, done = read_journal(journal_path(out))
    assert len(done) == 4  # two full batches landed before the interrupt

    again = ScriptedBackend(oracle_trace)
    answer, _ = answer_scene(scene_path, "detect", backend=again, tiling=TILING, out=out, batch_size=2,
                             journal=journal_path(out), resume=True)
    assert len(again.calls) == 12 - 4  # finished tiles are not run again
    assert evidence_rows(out) == evidence_rows(clean)
    assert len(answer.evidence) == len(OBJECTS)


def test_sigkill_then_resume_equals_a_clean_run(scene_path, tmp_path):
    clean = tmp_path / "clean.gpkg"
    answer_scene(scene_path, "detect", backend=ScriptedBackend(oracle_trace), tiling=TILING, out=clean)
    out = tmp_path / "killed.gpkg"
    journal = journal_path(out)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from geocot_cli.api import answer_scene
        from geocot_cli.backends.scripted import ScriptedBackend
        from geocot_cli.config import TilingOptions
        from oracle import oracle_trace
        def slow(image, prompt):
            time.sleep(0.3)
            return oracle_trace(image, prompt)
        answer_scene({str(scene_path)!r}, "detect", backend=ScriptedBackend(slow), tiling=TilingOptions(400, 80),
                     out={str(out)!r}, journal={str(journal)!r}, batch_size=1)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.getcwd()})
    deadline = time.time() + 60
    while time.time() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 4:  # header + at least 3 tiles
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    _, done = read_journal(journal)
    assert 3 <= len(done) < 12

    again = ScriptedBackend(oracle_trace)
    answer_scene(scene_path, "detect", backend=again, tiling=TILING, out=out, journal=journal, resume=True)
    assert len(again.calls) == 12 - len(done)
    assert evidence_rows(out) == evidence_rows(clean)


def test_export_rebuilds_the_output_without_a_model(scene_path, tmp_path):
    out = tmp_path / "run.gpkg"
    answer_scene(scene_path, "count", question="How many ships?", classes=["ship"],
                 backend=ScriptedBackend(oracle_trace), tiling=TILING, out=out, journal=journal_path(out))
    rebuilt = tmp_path / "rebuilt.gpkg"
    answer, _ = export_journal(journal_path(out), out=rebuilt)
    assert answer.answer == str(len(OBJECTS))
    assert evidence_rows(rebuilt) == evidence_rows(out)


def test_resume_refuses_a_journal_of_another_run(scene_path, tmp_path):
    out = tmp_path / "run.gpkg"
    answer_scene(scene_path, "detect", backend=ScriptedBackend(oracle_trace), tiling=TILING, out=out,
                 journal=journal_path(out))
    with pytest.raises(ConfigError, match="different run.*tile"):
        answer_scene(scene_path, "detect", backend=ScriptedBackend(oracle_trace), tiling=TilingOptions(500, 80),
                     out=out, journal=journal_path(out), resume=True)


def test_fresh_run_will_not_clobber_an_earlier_journal(scene_path, tmp_path):
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"format": "geocot-journal/1"}\n')
    with pytest.raises(OutputError, match="--resume"):
        answer_scene(scene_path, "detect", backend=ScriptedBackend(oracle_trace), tiling=TILING, journal=journal)


def test_torn_last_line_is_dropped(scene_path, tmp_path):
    out = tmp_path / "run.gpkg"
    answer_scene(scene_path, "detect", backend=ScriptedBackend(oracle_trace), tiling=TILING, out=out,
                 journal=journal_path(out))
    lines = journal_path(out).read_text().splitlines(keepends=True)
    journal_path(out).write_text("".join(lines[:6]) + lines[6][: len(lines[6]) // 2])
    _, done = read_journal(journal_path(out))
    assert len(done) == 5
    again = ScriptedBackend(oracle_trace)
    answer_scene(scene_path, "detect", backend=again, tiling=TILING, out=out, journal=journal_path(out), resume=True)
    assert len(again.calls) == 12 - 5
    _, done = read_journal(journal_path(out))
    assert len(done) == 12 and all(json.loads(line) for line in journal_path(out).read_text().splitlines())


def test_resume_runs_failed_tiles_again(scene_path, tmp_path):
    clean = tmp_path / "clean.gpkg"
    answer_scene(scene_path, "detect", backend=ScriptedBackend(oracle_trace), tiling=TILING, out=clean)

    def flaky(image, prompt):
        import numpy as np

        if (np.asarray(image)[..., 0] == 201).any():  # tiles that show the second object
            raise RuntimeError("model crashed on this tile")
        return oracle_trace(image, prompt)

    out = tmp_path / "run.gpkg"
    first, _ = answer_scene(scene_path, "detect", backend=ScriptedBackend(flaky), tiling=TILING, out=out,
                            journal=journal_path(out), batch_size=1)
    failed = {r.tile.id for r in first.tiles if r.error}
    assert failed and all("model crashed" in r.error for r in first.tiles if r.error)
    again = ScriptedBackend(oracle_trace)
    answer_scene(scene_path, "detect", backend=again, tiling=TILING, out=out, journal=journal_path(out), resume=True)
    assert len(again.calls) == len(failed)  # only the failed tiles are run again
    assert evidence_rows(out) == evidence_rows(clean)
