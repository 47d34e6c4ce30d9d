"""The bad-input matrix: every input a user can get wrong ends the same way.

Each row runs one command through the CLI and checks what a shell script would rely on: exit code
2, exactly one non-empty line on stderr naming the problem, no traceback, nothing on stdout, no
model call, and no file (output, journal or temporary file) left behind or changed.

A row is ``(id, args, needle, flags)``: ``{name}`` in ``args`` is replaced by a path from the
``inputs`` fixture; ``needle`` must appear in the error line (case-insensitive). ``flags``:
``real`` loads the model for real (no scripted backend), ``tiny`` needs the tiny model,
``real_data`` needs ../shared/data/real, ``unwritable`` makes every folder look read-only,
``prior`` runs ``detect {scene} --out {out}/run.gpkg --tile 64 --overlap 0`` first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

import geocot_cli.api
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.app import app

from oracle import draw_scene, oracle_trace

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
SCENE = ["--tile", "64", "--overlap", "0"]

# fmt: off
TABLE = [
    # -- the scene ---------------------------------------------------------------------------------
    ("missing-path", ["detect", "{in}/missing.tif"], "does not exist", ""),
    ("directory", ["count", "{in}", "ship"], "is a directory", ""),
    ("folder of non-rasters (detect takes folders)", ["detect", "{in}"], "is not a raster", ""),
    ("not-a-raster", ["detect", "{notes}"], "not a raster", ""),
    ("empty-file", ["detect", "{empty}"], "not a raster", ""),
    ("truncated-tiff", ["detect", "{truncated}", "--out", "{out}/t.gpkg"], "damaged", ""),
    ("truncated-header", ["detect", "{stub}"], "cannot be opened", ""),
    ("corrupt-tiff", ["detect", "{corrupt}", "--out", "{out}/c.gpkg"], "damaged", "real_data"),
    ("zero-size-raster", ["detect", "{zero}"], "has no pixels", ""),
    ("no-band-at-all", ["detect", "{nobands}"], "cannot be opened", ""),
    ("alpha-band-only", ["detect", "{alpha}"], "only an alpha band", ""),
    ("complex-bands", ["detect", "{complex}"], "complex values", ""),
    ("bands-out-of-range", ["detect", "{scene}", "--bands", "1,2,9"], "band 9 is out of range", ""),
    ("bands-zero", ["detect", "{scene}", "--bands", "0"], "1-based", ""),
    ("bands-two", ["detect", "{scene}", "--bands", "1,2"], "one or three", ""),
    ("bands-not-numbers", ["detect", "{scene}", "--bands", "red"], "band numbers", ""),
    # -- tiling and decoding options ---------------------------------------------------------------
    ("tile-zero", ["detect", "{scene}", "--tile", "0"], "tile (0)", ""),
    ("tile-negative", ["detect", "{scene}", "--tile", "-8"], "tile (-8)", ""),
    ("overlap-equals-tile", ["detect", "{scene}", "--tile", "100", "--overlap", "100"], "smaller than tile", ""),
    ("overlap-above-tile", ["detect", "{scene}", "--tile", "100", "--overlap", "160"], "smaller than tile", ""),
    ("overlap-negative", ["detect", "{scene}", "--overlap", "-1"], "overlap (-1)", ""),
    ("tile-not-a-number", ["detect", "{scene}", "--tile", "abc"], "'--tile'", ""),
    ("min-valid-above-1", ["detect", "{scene}", "--min-valid", "1.5"], "between 0 and 1", ""),
    ("nms-iou-zero", ["detect", "{scene}", "--nms-iou", "0"], "--nms-iou", ""),
    ("batch-size-zero", ["detect", "{scene}", "--batch-size", "0"], "batch_size (0)", ""),
    ("max-new-tokens-zero", ["detect", "{scene}", "--max-new-tokens", "0"], "max_new_tokens (0)", ""),
    # -- the output --------------------------------------------------------------------------------
    ("unknown-extension", ["detect", "{scene}", "--out", "{out}/x.shp"], "unknown output extension '.shp'", ""),
    ("no-extension", ["detect", "{scene}", "--out", "{out}/x"], "unknown output extension", ""),
    ("output-folder-missing", ["detect", "{scene}", "--out", "{out}/nope/x.gpkg"], "does not exist", ""),
    ("output-folder-unwritable", ["detect", "{scene}", "--out", "{out}/x.gpkg"], "not writable", "unwritable"),
    ("output-is-a-folder", ["detect", "{scene}", "--out", "{out}/dir.gpkg"], "is a folder", ""),
    ("output-exists", ["detect", "{scene}", "--out", "{existing}"], "--overwrite", ""),
    ("journal-exists", ["detect", "{scene}", "--out", "{out}/fresh.gpkg"], "--resume", ""),
    ("resume-without-journal", ["detect", "{scene}", "--resume"], "--resume needs", ""),
    ("journal-folder-missing", ["detect", "{scene}", "--journal", "{out}/nope/run.jsonl"], "cannot write the journal", ""),
    ("journal-is-a-folder", ["detect", "{scene}", "--journal", "{out}/dir.gpkg"], "is a folder", ""),
    ("resume-another-run", ["detect", "{scene}", "--out", "{out}/run.gpkg", "--tile", "32", "--overlap", "0",
                            "--resume"], "different run", "prior"),
    # -- the model ---------------------------------------------------------------------------------
    ("model-folder-missing", ["detect", "{scene}", "--model", "{in}/no-model"], "does not exist", "real"),
    ("model-folder-empty", ["detect", "{scene}", "--model", "{emptymodel}"], "holds no config.json", "real"),
    ("model-is-a-file", ["detect", "{scene}", "--model", "{notes}"], "not a model folder", "real"),
    ("model-without-weights", ["detect", "{scene}", "--model", "{noweights}"], "cannot load model", "real tiny"),
    ("unknown-device", ["detect", "{scene}", "--model", "{tiny}", "--device", "tpu"], "unknown device", "real tiny"),
    ("unknown-dtype", ["detect", "{scene}", "--model", "{tiny}", "--dtype", "fp8"], "unknown dtype", "real tiny"),
    ("bad-box-convention", ["detect", "{scene}", "--box-convention", "xyxy"], "unknown box convention", ""),
    ("unknown-backend", ["detect", "{scene}", "--backend", "onnx"], "unknown backend", ""),
    ("openai-without-base-url", ["detect", "{scene}", "--backend", "openai", "--model", "m"], "--base-url", ""),
    ("openai-without-model", ["detect", "{scene}", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"],
     "--model is required", "real"),
    ("openai-url-not-http", ["detect", "{scene}", "--backend", "openai", "--base-url", "localhost:8000",
                             "--model", "m", "--box-convention", "pixel"], "not an http(s) url", "real"),
    # -- tasks -------------------------------------------------------------------------------------
    ("unknown-task", ["ask", "{scene}", "what is here?", "--task", "segment"], "unknown task 'segment'", ""),
    ("unknown-backfill-task", ["data", "backfill", "--format", "geocot", "--labels", "{bench}",
                               "--out", "{out}/b.jsonl", "--tasks", "segment"], "task segment", ""),
    # -- sample JSONL ------------------------------------------------------------------------------
    ("eval-malformed-jsonl", ["eval", "--data", "{malformed}", "--out", "{out}/p.jsonl"], ":3: not valid json", ""),
    ("eval-binary-jsonl", ["eval", "--data", "{binary}", "--out", "{out}/p.jsonl"], ":2: not utf-8", ""),
    ("eval-deep-nesting", ["eval", "--data", "{deep}", "--out", "{out}/p.jsonl"], "nested too deeply", ""),
    ("eval-image-escapes", ["eval", "--data", "{escape}", "--out", "{out}/p.jsonl"], "leaves the dataset folder", ""),
    ("eval-image-symlink-escapes", ["eval", "--data", "{linked}", "--out", "{out}/p.jsonl"], "is a link to", ""),
    ("eval-unknown-task-field", ["eval", "--data", "{badtask}", "--out", "{out}/p.jsonl"], "unknown task 'segment'", ""),
    ("eval-data-missing", ["eval", "--data", "{in}/none.jsonl", "--out", "{out}/p.jsonl"], "not found", ""),
    ("eval-limit-zero", ["eval", "--data", "{bench}", "--out", "{out}/p.jsonl", "--limit", "0"], "--limit 0", ""),
    ("eval-preds-not-preds", ["eval", "--preds", "{noise}"], ":1: not valid json", ""),
    ("eval-preds-and-data", ["eval", "--preds", "{bench}", "--data", "{bench}"], "drop --data", ""),
    ("backfill-malformed-jsonl", ["data", "backfill", "--format", "geocot", "--labels", "{malformed}",
                                  "--out", "{out}/b.jsonl"], ":3: not valid json", ""),
    ("backfill-image-escapes", ["data", "backfill", "--format", "geocot", "--labels", "{escape}",
                                "--out", "{out}/b.jsonl"], "leaves the dataset folder", ""),
    ("backfill-unknown-format", ["data", "backfill", "--format", "kml", "--labels", "{bench}",
                                 "--out", "{out}/b.jsonl"], "unknown dataset format", ""),
    ("backfill-without-format", ["data", "backfill", "--labels", "{bench}", "--out", "{out}/b.jsonl"],
     "needs --format", ""),
    ("coco-file-name-escapes", ["data", "backfill", "--format", "coco", "--labels", "{coco}",
                                "--out", "{out}/b.jsonl"], "leads out of the image folder", ""),
    # -- journals ----------------------------------------------------------------------------------
    ("export-not-a-journal", ["export", "{notes}"], "not a geocot journal", ""),
    ("export-missing-journal", ["export", "{in}/none.journal.jsonl"], "no such journal", ""),
    ("export-damaged-journal", ["export", "{damaged}"], "not a tile record", ""),
    ("export-scene-gone", ["export", "{orphan}", "--out", "{out}/e.gpkg"], "does not exist", ""),
    # -- usage -------------------------------------------------------------------------------------
    ("missing-argument", ["detect"], "missing argument 'scenes'", ""),
    ("unknown-option", ["detect", "{scene}", "--tyle", "64"], "no such option: --tyle", ""),
    ("unknown-command", ["dettect", "{scene}"], "no such command 'dettect'", ""),
]
# fmt: on


def _tif(path: Path, data: np.ndarray, **profile) -> Path:
    count, height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=data.dtype,
                       crs="EPSG:32618", transform=TRANSFORM, **profile) as dst:
        dst.write(data)
    return path


@pytest.fixture
def inputs(tmp_path) -> dict[str, str]:
    """Every bad (and one good) input, in ``tmp_path/in``; outputs go to ``tmp_path/out``."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    scene = _tif(src / "harbour.tif", draw_scene(128, 96, [(10, 10, 30, 30), (80, 50, 100, 70)]))
    raw = scene.read_bytes()
    (src / "truncated.tif").write_bytes(raw[: len(raw) // 2])
    (src / "stub.tif").write_bytes(raw[:100])
    (src / "empty.tif").write_bytes(b"")
    (src / "notes.tif").write_text("not an image\n")
    (src / "zero.vrt").write_text(
        '<VRTDataset rasterXSize="0" rasterYSize="0"><VRTRasterBand dataType="Byte" band="1"/></VRTDataset>')
    (src / "nobands.vrt").write_text('<VRTDataset rasterXSize="10" rasterYSize="10"></VRTDataset>')
    alpha = _tif(src / "alpha.tif", np.full((1, 16, 16), 255, np.uint8))
    with rasterio.open(alpha, "r+") as ds:
        ds.colorinterp = [ColorInterp.alpha]
    _tif(src / "complex.tif", np.ones((1, 16, 16), np.complex64))
    _tif(src / "nodata.tif", np.zeros((3, 96, 128), np.uint8), nodata=0)
    (out / "dir.gpkg").mkdir()
    (out / "old.gpkg").write_bytes(b"an earlier result")
    (out / "fresh.gpkg.journal.jsonl").write_text('{"format": "geocot-journal/1"}\n')
    (src / "emptymodel").mkdir()

    (src / "a.png").write_bytes(b"")  # never opened: every sample file below fails first
    good = '{"image": "a.png", "task": "count", "count": 1}\n'
    (src / "bench.jsonl").write_text(good)
    (src / "malformed.jsonl").write_text(good + good + '{"image": "a.png", "task": "count", "count": 1\n')
    (src / "binary.jsonl").write_bytes(good.encode() + b"\xff\xfe\x00garbage\n")
    (src / "noise.bin").write_bytes(bytes(range(256)) * 4)
    (src / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    (src / "escape.jsonl").write_text('{"image": "../../etc/hostname", "task": "count", "count": 1}\n')
    (tmp_path / "outside.png").write_bytes(b"")
    (src / "inside.png").symlink_to(tmp_path / "outside.png")
    (src / "linked.jsonl").write_text('{"image": "inside.png", "task": "count", "count": 1}\n')
    (src / "badtask.jsonl").write_text('{"image": "a.png", "task": "segment", "count": 1}\n')
    (src / "coco.json").write_text(
        '{"images": [{"id": 1, "file_name": "../../etc/hostname", "width": 8, "height": 8}],'
        ' "annotations": [], "categories": [{"id": 1, "name": "ship"}]}')

    header = ('{"format": "geocot-journal/1", "scene": "%s", "task": "detect", "question": null, "classes": null, '
              '"tile": 64, "overlap": 0, "bands": [1, 2, 3], "min_valid": 0.05, "model": "scripted", '
              '"box_convention": "pixel"}\n')
    (src / "damaged.journal.jsonl").write_text(header % scene + '["r0c0"]\n{"tile": "r0c1", "text": null}\n')
    (src / "orphan.journal.jsonl").write_text(header % (src / "gone.tif"))
    subs = {p.stem.replace(".journal", ""): str(p) for p in src.iterdir()}
    subs.update({"in": str(src), "out": str(out), "scene": str(scene), "existing": str(out / "old.gpkg")})
    return subs


def _snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root``: files with their size and mtime (a folder's mtime moves when a
    temporary file comes and goes, which is fine)."""
    return {str(p.relative_to(root)): None if p.is_dir() else (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*")}


@pytest.mark.parametrize("args, needle, flags", [pytest.param(*row[1:], id=row[0]) for row in TABLE])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    request, runner, monkeypatch, tmp_path, inputs, args, needle, flags
):
    flags = flags.split()
    if "real_data" in flags:
        real = request.getfixturevalue("real_data")
        inputs = {**inputs, "corrupt": str(real / "rasterio/corrupt.tif"),
                  "allnodata": str(real / "rasterio/all-nodata.tif")}
    if "tiny" in flags:
        tiny = request.getfixturevalue("tiny_model")
        noweights = tmp_path / "in" / "noweights"
        noweights.mkdir()
        for f in tiny.iterdir():
            if f.suffix != ".safetensors":
                (noweights / f.name).symlink_to(f)
        inputs = {**inputs, "tiny": str(tiny), "noweights": str(noweights)}
    backend = ScriptedBackend(oracle_trace)
    if "real" not in flags:
        monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    if "prior" in flags:
        res = runner.invoke(app, ["detect", inputs["scene"], "--out", f"{inputs['out']}/run.gpkg", *SCENE])
        assert res.exit_code == 0, res.output
    if "unwritable" in flags:
        import geocot_cli.io.vector as vector

        access = os.access  # root can write anywhere: pretend no folder is writable
        monkeypatch.setattr(vector.os, "access", lambda path, mode, **k: False if mode & os.W_OK else access(path, mode, **k))
    calls_before = len(backend.calls)
    before = _snapshot(tmp_path)

    res = runner.invoke(app, [a.format(**inputs) for a in args])

    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and needle.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in res.output and res.stdout == ""
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert len(backend.calls) == calls_before, "the model ran on bad input"
    assert _snapshot(tmp_path) == before, "a file was left behind or changed"


def test_the_matrix_is_big_and_its_ids_unique():
    ids = [row[0] for row in TABLE]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["detect"], "Missing argument 'scenes' (see geocot detect --help)"),
        (["detect", "s.tif", "--tile", "1.5"], "Invalid value for '--tile'"),
        (["data", "synth"], "Missing argument 'out' (see geocot data synth --help)"),
        (["detect", "s.tif", "--nms-iou", "1.5"], "1.5 must be in (0, 1]"),
    ],
)
def test_usage_errors_are_one_line_through_the_console_script(capsys, argv, needle):
    from geocot_cli.cli.app import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert info.value.code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


def test_markup_in_messages_is_printed_as_written(runner, tmp_path):
    """Error text is not rich markup: brackets in a path or a message survive."""
    path = tmp_path / "[bold]x[/bold] [x1,y1].tif"
    res = runner.invoke(app, ["detect", str(path)])
    assert res.exit_code == 2
    assert str(path) in res.stderr


def test_help_still_works_and_no_args_prints_help(runner):
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "detect" in res.stdout
    res = runner.invoke(app, [])
    assert res.exit_code == 2 and "detect" in res.stdout and res.stderr.strip() == ""


@pytest.mark.parametrize("which", ["small", "real"])
def test_all_nodata_answers_with_a_note_not_an_error(request, runner, monkeypatch, inputs, which):
    """Decided: a scene with no valid pixel is data, not a mistake (a scene outside the swath arrives
    every day), so it exits 0, but a note says the model was never asked and the output marks every
    tile skipped: "no data" is never mistaken for "nothing found". --strict makes it exit 3."""
    path = inputs["nodata"] if which == "small" else str(request.getfixturevalue("real_data") / "rasterio/all-nodata.tif")
    backend = ScriptedBackend(oracle_trace)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    out = Path(inputs["out"]) / "n.gpkg"
    res = runner.invoke(app, ["detect", path, "--out", str(out), "--json", *SCENE])
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "model was not asked" in notes[0] and "no data, not nothing found" in notes[0]
    doc = json.loads(res.stdout)
    assert doc["tiles_processed"] == 0 and doc["tiles_skipped"] == doc["tiles_total"] > 0
    assert not backend.calls
    import pyogrio

    tiles = pyogrio.read_dataframe(out, layer="tiles")
    assert len(tiles) == doc["tiles_total"] and set(tiles["skipped"]) == {"nodata"}
    res = runner.invoke(app, ["detect", path, "--strict", *SCENE])
    assert res.exit_code == 3 and "no tile was answered" in res.stderr


def test_a_scene_with_some_valid_pixels_runs_without_a_note(runner, monkeypatch, make_geotiff):
    data = np.zeros((3, 96, 128), np.uint8)
    data[:, 70:96, 100:128] = 120  # one corner of valid pixels
    scene = make_geotiff("corner.tif", data=data, nodata=0, transform=TRANSFORM)
    backend = ScriptedBackend(oracle_trace)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)
    res = runner.invoke(app, ["detect", str(scene), *SCENE])
    assert res.exit_code == 0, res.output
    assert len(backend.calls) == 1 and "note:" not in res.stderr


def test_no_temp_file_survives_a_failed_write(runner, monkeypatch, inputs):
    """The output check passes but the write itself fails: the atomic writer leaves nothing."""
    import pyogrio
    import pyogrio.errors

    backend = ScriptedBackend(oracle_trace)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: backend)

    def full_disk(*a, **k):
        raise pyogrio.errors.DataSourceError("No space left on device")

    monkeypatch.setattr(pyogrio, "write_dataframe", full_disk)
    out = Path(inputs["out"]) / "ships.gpkg"
    res = runner.invoke(app, ["detect", inputs["scene"], "--out", str(out), *SCENE])
    assert res.exit_code == 2, res.output
    assert "no space left" in res.stderr.lower()
    leftovers = sorted(p.name for p in out.parent.iterdir() if p.name.startswith((".ships", "ships.gpkg")))
    assert leftovers == ["ships.gpkg.journal.jsonl"], leftovers  # the journal keeps the model's work
    assert os.path.getsize(out.parent / "ships.gpkg.journal.jsonl") > 0
