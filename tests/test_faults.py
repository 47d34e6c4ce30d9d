"""Faults during a run: nothing finished is lost, and the user is told what happened and what to do.

Ctrl-C and SIGKILL mid-run, then ``--resume``, give the output of an uninterrupted run; an
out-of-memory error on the accelerator halves the batch and retries; a tile the model fails on is
recorded and the run goes on (exit 0, reported; exit 3 with ``--strict``); a write that fails at
the end keeps the journal, from which ``geocot export`` rebuilds the output without the model.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from affine import Affine

import geocot_cli.api
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.app import app
from geocot_cli.io.journal import journal_path, read_journal

from oracle import Interrupt, draw_scene, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
OBJECTS = [(10, 10, 30, 30), (70, 70, 90, 90), (150, 40, 170, 60), (220, 150, 250, 180)]  # one per tile
TILING = ["--tile", "64", "--overlap", "0"]  # 256 x 192 -> 4 x 3 = 12 tiles
N_TILES = 12
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def scene(make_geotiff) -> Path:
    return make_geotiff("harbour.tif", data=draw_scene(256, 192, OBJECTS), transform=TRANSFORM)


def layers(path: Path) -> dict[str, list[tuple]]:
    """Every layer of a GeoPackage as sorted rows (geometry as WKT): what 'identical output' means.

    The provenance table is left out: it holds when each run started."""
    out = {}
    for name, _ in pyogrio.list_layers(path):
        if name == "provenance":
            continue
        frame = pyogrio.read_dataframe(path, layer=name)
        cols = [c for c in frame.columns if c != "geometry"]
        rows = zip(frame.geometry.to_wkt(), *(frame[c].astype(str) for c in cols))
        out[name] = sorted(rows)
    return out


def use(monkeypatch, backend) -> None:
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)




@pytest.fixture
def clean(runner, monkeypatch, scene, tmp_path) -> Path:
    """The output of one uninterrupted run."""
    out = tmp_path / "clean" / "ships.gpkg"
    out.parent.mkdir()
    use(monkeypatch, ScriptedBackend(oracle_trace))
    res = runner.invoke(app, ["detect", str(scene), "--out", str(out), "--batch-size", "2", *TILING])
    assert res.exit_code == 0, res.output
    return out


# --- Ctrl-C ------------------------------------------------------------------------------------


@pytest.mark.parametrize("after", [0, 5])
def test_ctrl_c_keeps_the_journal_says_how_to_resume_and_resume_equals_a_clean_run(
    runner, monkeypatch, scene, tmp_path, clean, after
):
    out = tmp_path / "ships.gpkg"
    use(monkeypatch, Interrupt(after=after))
    res = runner.invoke(app, ["detect", str(scene), "--out", str(out), "--batch-size", "2", *TILING])
    assert res.exit_code == 130, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted"), res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not [t for t in threading.enumerate() if t.name == "geocot-tiles"], "the tile reader kept running"
    if after:
        assert f"saved in {journal_path(out)}; run the same command with --resume" in lines[0]
        _, done = read_journal(journal_path(out))
        assert len(done) == 4  # two batches of two landed before Ctrl-C
    else:
        assert not journal_path(out).exists()  # nothing the model said: nothing to keep

    again = ScriptedBackend(oracle_trace)
    use(monkeypatch, again)
    res = runner.invoke(app, ["detect", str(scene), "--out", str(out), "--batch-size", "2", "--resume", *TILING])
    assert res.exit_code == 0, res.output
    assert len(again.calls) == N_TILES - (4 if after else 0)  # finished tiles are not asked again
    assert layers(out) == layers(clean)


# --- SIGKILL -----------------------------------------------------------------------------------


def _wait_for_tiles(journal: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 1 + n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before it could be killed at tile {n}")
        time.sleep(0.01)
    pytest.fail(f"no {n} tiles in {journal} after {timeout} s")


def _kill_at_random_tile(argv: list[str], journal: Path, *, code: str | None = None) -> int:
    """Start ``geocot argv`` in a new process, SIGKILL it once the journal holds a random number of
    tiles, and return that number (as read back from the journal)."""
    k = random.randint(1, N_TILES - 2)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    cmd = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "geocot_cli", *argv]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_tiles(journal, k, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    _, done = read_journal(journal)  # a line torn by the kill is dropped
    assert k <= len(done) < N_TILES, (k, len(done))
    return len(done)


SLOW_SCRIPTED = textwrap.dedent("""
    import sys, time
    import geocot_cli.api
    from geocot_cli.backends.scripted import ScriptedBackend
    from geocot_cli.cli.app import main
    from oracle import oracle_trace

    def slow(image, prompt):
        time.sleep(0.05)
        return oracle_trace(image, prompt)

    geocot_cli.api.open_backend = lambda options: ScriptedBackend(slow)
    main(sys.argv[1:])
""")


def test_sigkill_at_a_random_tile_then_resume_through_the_cli_equals_a_clean_run(
    runner, monkeypatch, scene, tmp_path, clean
):
    out = tmp_path / "ships.gpkg"
    argv = ["detect", str(scene), "--out", str(out), "--batch-size", "1", *TILING]
    done = _kill_at_random_tile(argv, journal_path(out), code=SLOW_SCRIPTED)
    assert not out.exists()

    again = ScriptedBackend(oracle_trace)
    use(monkeypatch, again)
    res = runner.invoke(app, [*argv, "--resume"])
    assert res.exit_code == 0, res.output
    assert len(again.calls) == N_TILES - done
    assert layers(out) == layers(clean)


@pytest.mark.slow
def test_sigkill_with_the_real_tiny_model_then_resume_equals_a_clean_run(runner, scene, tmp_path, tiny_model):
    """The real path: ``python -m geocot_cli detect --model <tiny>`` killed at a random tile, resumed."""
    import torch

    torch.set_num_threads(1)  # the same arithmetic as the child process (OMP_NUM_THREADS=1)
    fast = ["--model", str(tiny_model), "--batch-size", "1", "--max-new-tokens", "12", *TILING]
    clean = tmp_path / "clean.gpkg"
    res = runner.invoke(app, ["detect", str(scene), "--out", str(clean), *fast])
    assert res.exit_code == 0, res.output

    out = tmp_path / "killed.gpkg"
    argv = ["detect", str(scene), "--out", str(out), *fast]
    done = _kill_at_random_tile(argv, journal_path(out))
    assert not out.exists()
    res = runner.invoke(app, [*argv, "--resume"])
    assert res.exit_code == 0, res.output
    assert layers(out) == layers(clean)
    _, records = read_journal(journal_path(out))
    assert len(records) == N_TILES and done < N_TILES


# --- out of memory -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_backend(tiny_model):
    import torch

    from geocot_cli.backends.hf import HFBackend
    from geocot_cli.config import GenerationOptions

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield HFBackend(tiny_model, device="cpu", generation=GenerationOptions(max_new_tokens=6, batch_size=8))
    torch.set_num_threads(before)


@pytest.fixture
def tiles():
    from PIL import Image

    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(5)]


def _oom_above(backend, monkeypatch, limit: int, error=None) -> list[int]:
    """Make ``backend.model.generate`` run out of memory for batches above ``limit``; returns the
    batch sizes it was called with."""
    import torch

    import geocot_cli.backends.hf as hf

    real = backend.model.generate
    sizes: list[int] = []

    def generate(**inputs):
        sizes.append(int(inputs["input_ids"].shape[0]))
        if sizes[-1] > limit:
            raise error or torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(**inputs)

    monkeypatch.setattr(backend.model, "generate", generate)
    monkeypatch.setattr(backend, "_batch_limit", None)
    monkeypatch.setattr(hf, "_free_accelerator_memory", lambda: sizes.append(0))  # 0: memory handed back
    return sizes


def test_out_of_memory_halves_the_batch_and_retries(hf_backend, tiles, monkeypatch):
    expected = hf_backend.generate(tiles[:1], ["How many ships?"]) + hf_backend.generate(tiles[1:], ["How many ships?"] * 4)
    sizes = _oom_above(hf_backend, monkeypatch, 2)
    texts = hf_backend.generate(tiles, ["How many ships?"] * 5)
    assert texts == expected  # the same answers, in order
    assert sizes == [5, 0, 2, 2, 1]  # 5 -> out of memory, cache emptied, then halves
    sizes.clear()
    assert hf_backend.generate(tiles[:4], ["How many ships?"] * 4) == expected[:4]
    assert sizes == [2, 2]  # the smaller batch is kept: one OOM costs one retry


@pytest.mark.parametrize("error", [None, RuntimeError("MPS backend out of memory (MPS allocated: 9.5 GB)")])
def test_out_of_memory_with_one_tile_is_a_backend_error_that_says_what_to_do(hf_backend, tiles, monkeypatch, error):
    from geocot_cli.errors import BackendError

    sizes = _oom_above(hf_backend, monkeypatch, 0, error)
    with pytest.raises(BackendError, match="out of memory on cpu even with one tile per batch") as info:
        hf_backend.generate(tiles[:3], ["q"] * 3)
    assert "--dtype bfloat16" in str(info.value) and "\n" not in str(info.value)
    assert sizes == [3, 0, 1, 0]


def test_other_errors_are_not_mistaken_for_out_of_memory(hf_backend, tiles, monkeypatch):
    sizes = _oom_above(hf_backend, monkeypatch, 0, ValueError("bad pixel values"))
    with pytest.raises(ValueError, match="bad pixel values"):
        hf_backend.generate(tiles[:3], ["q"] * 3)
    assert sizes == [3]  # no retry, no halving


# --- a tile the model fails on -----------------------------------------------------------------


def failing_on(tile_marker: int):
    """An oracle that raises on the tile whose image holds the grey value ``tile_marker``."""

    def respond(image, prompt):
        if (np.asarray(image)[..., 0] == tile_marker).any():
            raise RuntimeError("CUDA error: device-side assert triggered")
        return oracle_trace(image, prompt)

    return respond


@pytest.mark.parametrize("batch_size", ["1", "3"])
def test_a_failed_tile_is_recorded_and_the_run_goes_on(runner, monkeypatch, scene, tmp_path, batch_size):
    out = tmp_path / "ships.gpkg"
    backend = ScriptedBackend(failing_on(202))  # object 3 (150..170, 40..60) lies in tile r0c2
    use(monkeypatch, backend)
    res = runner.invoke(app, ["detect", str(scene), "--out", str(out), "--batch-size", batch_size, *TILING])
    assert res.exit_code == 0, res.output
    assert "1 failed" in res.stderr and "Traceback" not in res.output
    tiles = pyogrio.read_dataframe(out, layer="tiles")
    failed = tiles[tiles["error"] != ""]
    assert list(failed["tile_id"]) == ["r0c2"] and "device-side assert" in failed["error"].iloc[0]
    assert len(pyogrio.read_dataframe(out, layer="evidence")) == len(OBJECTS) - 1
    _, done = read_journal(journal_path(out))
    assert len(done) == N_TILES and done["r0c2"]["error"] and done["r0c2"]["text"] is None


def test_json_output_lists_the_failed_tile(runner, monkeypatch, scene):
    use(monkeypatch, ScriptedBackend(failing_on(202)))
    res = runner.invoke(app, ["detect", str(scene), "--json", *TILING])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [t["id"] for t in doc["tiles"] if t["error"]] == ["r0c2"]


def test_strict_exits_3_after_writing_the_output(runner, monkeypatch, scene, tmp_path):
    out = tmp_path / "ships.gpkg"
    use(monkeypatch, ScriptedBackend(failing_on(202)))
    res = runner.invoke(app, ["detect", str(scene), "--out", str(out), "--strict", *TILING])
    assert res.exit_code == 3, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "1 of 12 tiles" in errors[0] and "r0c2" in errors[0]
    assert out.exists()
    use(monkeypatch, ScriptedBackend(oracle_trace))
    res = runner.invoke(app, ["detect", str(scene), "--strict", *TILING])
    assert res.exit_code == 0, res.output


def test_check_tiles_exit_code_and_message(scene, capsys):
    """The check behind --strict, on an answer with one failed tile (independent of the wiring)."""
    import typer

    from geocot_cli.api import answer_scene
    from geocot_cli.cli._common import check_tiles
    from geocot_cli.config import TilingOptions

    answer, _ = answer_scene(scene, "detect", backend=ScriptedBackend(failing_on(202)), tiling=TilingOptions(64, 0))
    check_tiles(answer, False)
    with pytest.raises(typer.Exit) as info:
        check_tiles(answer, True)
    assert info.value.exit_code == 3
    assert "failed on 1 of 12 tiles (first: r0c2: RuntimeError" in capsys.readouterr().err


# --- a write that fails at the end -------------------------------------------------------------


def test_a_failed_write_loses_no_model_work(runner, monkeypatch, scene, tmp_path, clean):
    import pyogrio.errors

    out = tmp_path / "ships.gpkg"
    backend = ScriptedBackend(oracle_trace)
    use(monkeypatch, backend)
    real = pyogrio.write_dataframe

    def full_disk(*a, **k):
        raise pyogrio.errors.DataSourceError("No space left on device")

    monkeypatch.setattr(pyogrio, "write_dataframe", full_disk)
    res = runner.invoke(app, ["detect", str(scene), "--out", str(out), *TILING])
    assert res.exit_code == 2 and "no space left on device" in res.stderr.lower(), res.output
    assert not out.exists() and journal_path(out).exists()

    monkeypatch.setattr(pyogrio, "write_dataframe", real)
    res = runner.invoke(app, ["export", str(journal_path(out)), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert layers(out) == layers(clean)
    assert len(backend.calls) == N_TILES  # the model was asked once per tile, not again
