"""Untrusted files and secrets: geocot runs no code and reads no file it was not asked to.

Weights load from safetensors only (a pickle is never unpickled); a model folder's own Python runs
only behind --trust-remote-code; the API key comes from the environment and appears in no output,
journal or message; image paths in datasets stay inside their folder; and whatever text a model
writes is stored as text in GeoPackage and GeoJSON attributes, byte for byte.
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyogrio
import pytest
from affine import Affine

import geocot_cli.api
from geocot_cli.backends.scripted import ScriptedBackend
from geocot_cli.cli.app import app
from geocot_cli.data._common import find_image
from geocot_cli.data.schema import load_samples
from geocot_cli.errors import DataError
from geocot_cli.io.journal import journal_path

from oracle import draw_scene

TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0)
KEY = "sk-geocot-test-7f3a9c1e5b"
SMALL = ["--tile", "64", "--overlap", "0", "--max-new-tokens", "8"]


@pytest.fixture
def scene(make_geotiff) -> Path:
    return make_geotiff("harbour.tif", data=draw_scene(128, 64, [(10, 10, 30, 30)]), transform=TRANSFORM)


def _one_error_line(res) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


# --- weights: safetensors only -----------------------------------------------------------------


class _Payload:
    """Unpickling this creates a folder: the proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_pickled_weights_are_refused_and_never_unpickled(runner, scene, tiny_model, tmp_path, monkeypatch):
    import torch

    folder = tmp_path / "pickled-model"
    folder.mkdir()
    for f in tiny_model.iterdir():
        if f.suffix != ".safetensors":
            (folder / f.name).symlink_to(f)
    marker = tmp_path / "pickle-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": _Payload(marker)}))
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))

    res = runner.invoke(app, ["detect", str(scene), "--model", str(folder), *SMALL])
    line = _one_error_line(res)
    assert "holds only pickle weights (pytorch_model.bin)" in line and "safetensors only" in line
    assert not marker.exists(), "a pickle in the model folder was executed"
    assert loads == []


def test_a_pickle_beside_safetensors_weights_is_ignored(tiny_model, tmp_path, monkeypatch):
    """transformers is asked for safetensors only: a planted pytorch_model.bin is never opened."""
    import torch

    from geocot_cli.backends.hf import HFBackend

    folder = tmp_path / "planted"
    folder.mkdir()
    for f in tiny_model.iterdir():
        (folder / f.name).symlink_to(f)
    marker = tmp_path / "pickle-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": _Payload(marker)}))
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    backend = HFBackend(folder, device="cpu")
    assert backend.model is not None
    assert not marker.exists() and loads == []


def _spy_from_pretrained(monkeypatch) -> list[tuple[str, dict]]:
    """Record the keyword arguments of both from_pretrained calls; the model's stops the load."""
    import transformers

    calls: list[tuple[str, dict]] = []
    real_processor = transformers.AutoProcessor.from_pretrained

    def processor(source, *a, **kw):
        calls.append(("AutoProcessor", kw))
        return real_processor(source, *a, **kw)

    def model(source, *a, **kw):
        calls.append(("AutoModelForImageTextToText", kw))
        raise OSError("stopped by the test")

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", processor)
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", model)
    return calls


@pytest.mark.parametrize("flag, trusted", [([], False), (["--trust-remote-code"], True)])
def test_remote_code_only_behind_the_flag_and_weights_only_safetensors(
    runner, scene, tiny_model, monkeypatch, flag, trusted
):
    calls = _spy_from_pretrained(monkeypatch)
    res = runner.invoke(app, ["detect", str(scene), "--model", str(tiny_model), *flag, *SMALL])
    assert "stopped by the test" in _one_error_line(res)
    kinds = dict(calls)
    assert set(kinds) == {"AutoProcessor", "AutoModelForImageTextToText"}
    assert all(kw["trust_remote_code"] is trusted for kw in kinds.values())
    assert kinds["AutoModelForImageTextToText"]["use_safetensors"] is True


def test_a_model_folder_with_its_own_code_is_refused_without_the_flag(runner, scene, tmp_path):
    folder = tmp_path / "custom-model"
    folder.mkdir()
    marker = tmp_path / "remote-code-ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "geocot-evil",
        "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModelForImageTextToText": "evil.EvilModel",
                     "AutoProcessor": "evil.EvilProcessor"},
    }))
    (folder / "evil.py").write_text(f"import os\nos.mkdir({str(marker)!r})\n")
    (folder / "geocot.json").write_text('{"box_convention": "pixel"}')
    res = runner.invoke(app, ["detect", str(scene), "--model", str(folder), *SMALL])
    line = _one_error_line(res)
    assert "--trust-remote-code" in line
    assert not marker.exists(), "the model folder's own code ran without --trust-remote-code"


# --- API keys ----------------------------------------------------------------------------------


TRACE = ("<think>Planning: find ships.\nGrounding:\n1. ship [10,10,30,30]: a ship.\n"
         "Synthesis: I grounded 1 ship.</think>\n<answer>[[10,10,30,30]]</answer>")


class _Server:
    """A chat-completions server on 127.0.0.1: records Authorization headers, answers ``reply``."""

    def __init__(self, status: int = 200, body: bytes | None = None):
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.auth.append(self.headers.get("Authorization"))
                payload = body or json.dumps({"choices": [{"message": {"role": "assistant", "content": TRACE}}]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("GEOCOT_TEST_KEY", KEY)


def _everything_written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _openai(url: str, out: Path, *extra: str) -> list[str]:
    return ["--backend", "openai", "--base-url", url, "--model", "served", "--api-key-env", "GEOCOT_TEST_KEY",
            "--box-convention", "pixel", "--out", str(out), *extra, *SMALL]


def test_api_key_is_sent_but_never_written(runner, scene, tmp_path, keyed):
    folder = tmp_path / "run"
    folder.mkdir()
    with _Server() as server:
        res = runner.invoke(app, ["detect", str(scene), *_openai(server.url, folder / "ships.gpkg", "--json")])
        assert res.exit_code == 0, res.output
        res2 = runner.invoke(app, ["detect", str(scene), *_openai(server.url, folder / "ships.geojson")])
        assert res2.exit_code == 0, res2.output
    assert server.auth and set(server.auth) == {f"Bearer {KEY}"}  # the key was used...
    assert json.loads(res.stdout)["evidence"] and len(list(folder.glob("*.journal.jsonl"))) == 2
    written = b"".join(p.read_bytes() for p in folder.iterdir())  # gpkg, geojson and both journals
    assert KEY.encode() not in written  # ...and is nowhere on disk
    assert KEY not in res.stdout + res.stderr + res2.stdout + res2.stderr  # or on screen


def test_api_key_echoed_by_a_failing_server_is_scrubbed(runner, scene, tmp_path, keyed):
    body = json.dumps({"error": {"message": f"invalid api key {KEY}"}}).encode()
    with _Server(status=401, body=body) as server:
        res = runner.invoke(app, ["detect", str(scene), *_openai(server.url, tmp_path / "ships.gpkg")])
    line = _one_error_line(res)
    assert "HTTP 401" in line and "invalid api key ***" in line and "GEOCOT_TEST_KEY" in line
    assert KEY not in res.output
    assert not any(KEY.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_credentials_in_the_base_url_are_not_shown(runner, scene):
    res = runner.invoke(app, ["detect", str(scene), "--backend", "openai", "--model", "served",
                              "--base-url", "http://user:hunter2@127.0.0.1:9/v1", "--box-convention", "pixel", *SMALL])
    assert res.exit_code == 2 and "hunter2" not in res.output
    assert "127.0.0.1:9" in res.stderr


def test_no_option_takes_a_key_on_the_command_line():
    """A key given as a flag ends up in shell history and `ps`: only --api-key-env exists."""
    from typer.main import get_command

    def params(cmd):
        yield from cmd.params
        for sub in getattr(cmd, "commands", {}).values():
            yield from params(sub)

    names = {opt for p in params(get_command(app)) for opt in getattr(p, "opts", [])}
    assert "--api-key-env" in names
    secret = {n for n in names if any(w in n for w in ("key", "secret", "password")) or n.endswith("-token")}
    assert secret == {"--api-key-env"}


# --- dataset paths -----------------------------------------------------------------------------


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "bench"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(b"")
    (tmp_path / "private.png").write_bytes(b"")
    return root


def _sample(root: Path, image: str) -> Path:
    path = root / "bench.jsonl"
    path.write_text(json.dumps({"image": image, "task": "count", "count": 1}) + "\n")
    return path


@pytest.mark.parametrize("image", ["../private.png", "img/../../private.png", "./img/../../bench/../private.png"])
def test_dotdot_out_of_the_dataset_is_refused(dataset, image):
    with pytest.raises(DataError, match=r"bench.jsonl:1: field 'image': .* leaves the dataset folder"):
        load_samples(_sample(dataset, image))


def test_symlinks_that_leave_the_dataset_are_refused(dataset, tmp_path):
    (dataset / "img" / "b.png").symlink_to(tmp_path / "private.png")
    (dataset / "outside").symlink_to(tmp_path, target_is_directory=True)
    for image in ("img/b.png", "outside/private.png"):
        with pytest.raises(DataError, match="is a link to .*outside the dataset folder"):
            load_samples(_sample(dataset, image))


def test_paths_inside_the_dataset_are_fine_even_through_links(dataset, tmp_path):
    (dataset / "img" / "c.png").symlink_to(dataset / "img" / "a.png")
    for image in ("img/a.png", "img/./a.png", "img/c.png", "img/sub/../a.png"):
        assert load_samples(_sample(dataset, image))[0].image.parent == dataset / "img"
    linked_root = tmp_path / "bench-link"  # the dataset folder itself may be a link
    linked_root.symlink_to(dataset, target_is_directory=True)
    (sample,) = load_samples(linked_root / "bench.jsonl")
    assert sample.image.name == "a.png"


def test_absolute_paths_are_taken_as_written(dataset, tmp_path):
    """Documented: an absolute path is an explicit choice (backfill writes them for images kept elsewhere)."""
    (sample,) = load_samples(_sample(dataset, str(tmp_path / "private.png")))
    assert sample.image == tmp_path / "private.png"


@pytest.mark.parametrize("name", ["../private.png", "/etc/hostname", "img/../../private.png"])
def test_label_files_cannot_name_images_outside_the_image_folder(dataset, name):
    with pytest.raises(DataError, match="leads out of the image folder"):
        find_image(dataset / "img", name, label_file="labels.json")


def test_image_folder_links_to_elsewhere_are_refused(dataset, tmp_path):
    (dataset / "img" / "d.png").symlink_to(tmp_path / "private.png")
    with pytest.raises(DataError, match="is a link to .*private.png, outside the image folder"):
        find_image(dataset / "img", "d.png")
    with pytest.raises(DataError, match="is a link to"):
        find_image(dataset / "img", "d")  # found by stem
    assert find_image(dataset / "img", "a") == dataset / "img" / "a.png"


def test_coco_file_name_cannot_leave_the_image_folder(runner, dataset, tmp_path):
    labels = dataset / "coco.json"
    labels.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "../../private.png", "width": 8, "height": 8}],
        "annotations": [], "categories": [{"id": 1, "name": "ship"}],
    }))
    res = runner.invoke(app, ["data", "backfill", "--format", "coco", "--labels", str(labels), "--images",
                              str(dataset / "img"), "--out", str(tmp_path / "sft.jsonl")])
    assert "leads out of the image folder" in _one_error_line(res)
    assert not (tmp_path / "sft.jsonl").exists()


# --- model text in GIS attributes --------------------------------------------------------------

NASTY = [
    "'); DROP TABLE evidence;--",
    'a "quoted" ship, it\'s',
    "NUL\x00inside",
    "tab\tinside",
    "[bold red]markup[/bold red] <script>alert(1)</script> {\"json\": true}",
    "émoji 🚢 and RTL \u202eelif.exe",
    "lone surrogate \ud800 here",
    "%s %n %x {0} ${HOME} `rm -rf /` \\N",
]
HUGE = "x" * 300_000


def nasty_trace(image=None, prompt="") -> str:
    grounding = "\n".join(f"{i}. ship [{2 + 4 * i},2,{4 + 4 * i},6]: {text}" for i, text in enumerate(NASTY, 1))
    return (f"<think>Planning: {NASTY[0]}\r\n\x00\nGrounding:\n{grounding}\nSynthesis: {HUGE}</think>\n"
            f"<answer>{NASTY[1]}</answer>")


def stored(text: str) -> str:
    """What a GIS file holds of ``text``: NUL dropped (GDAL would cut there), lone surrogates as U+FFFD."""
    return text.replace("\x00", "").replace("\ud800", "\ufffd")


@pytest.fixture(scope="module")
def claims() -> list[str]:
    """The claims the trace parser reads from the nasty trace: what the outputs must hold."""
    from geocot_cli.trace import parse_trace

    found = [e.claim for e in parse_trace(nasty_trace(), "pixel", (64, 64)).evidence]
    assert NASTY[0] in found and NASTY[1] in found and len(found) == len(NASTY)
    return found


@pytest.fixture
def nasty_run(runner, monkeypatch, make_geotiff, tmp_path):
    scene = make_geotiff("s.tif", data=draw_scene(64, 64, []), transform=TRANSFORM)
    monkeypatch.setattr(geocot_cli.api, "open_backend", lambda options: ScriptedBackend(nasty_trace))
    outs = {}
    for ext in ("gpkg", "geojson"):
        out = tmp_path / f"evidence.{ext}"
        res = runner.invoke(app, ["detect", str(scene), "--out", str(out), "--json", *SMALL])
        assert res.exit_code == 0, res.output[-2000:]
        outs[ext] = (out, json.loads(res.stdout))
    return outs


def test_geopackage_attributes_hold_model_text_as_text(nasty_run, claims):
    out, doc = nasty_run["gpkg"]
    with sqlite3.connect(out) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        stored_claims = [c for (c,) in db.execute("SELECT claim FROM evidence ORDER BY x1")]
        traces = {t for (t,) in db.execute("SELECT trace FROM evidence UNION SELECT trace FROM tiles")}
    assert {"evidence", "tiles", "gpkg_contents"} <= tables  # nothing was dropped
    assert stored_claims == [stored(c) for c in claims]
    assert traces == {stored(nasty_trace())}  # the whole trace, byte for byte
    assert sorted(pyogrio.read_dataframe(out, layer="evidence")["claim"]) == sorted(stored_claims)


def test_geojson_properties_hold_model_text_as_text(nasty_run, claims):
    out, _ = nasty_run["geojson"]
    features = json.loads(out.read_text(encoding="utf-8"))["features"]
    features.sort(key=lambda f: f["properties"]["x1"])
    assert [f["properties"]["claim"] for f in features] == [stored(c) for c in claims]
    assert {f["properties"]["trace"] for f in features} == {stored(nasty_trace())}


def test_json_and_journal_keep_the_text_too(nasty_run, claims):
    out, doc = nasty_run["gpkg"]
    valid = nasty_trace().replace("\ud800", "\ufffd")  # NUL is fine in JSON (escaped), a lone surrogate is not
    assert [e["claim"] for e in doc["evidence"]] == [c.replace("\ud800", "\ufffd") for c in claims]
    assert {t["trace"] for t in doc["tiles"]} == {valid}
    header, tile = journal_path(out).read_bytes().splitlines()
    assert json.loads(tile)["text"] == valid
