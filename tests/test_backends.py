"""The backend seam without a model: ScriptedBackend, box-convention resolution, the factory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from geocot_cli.backends import (
    KNOWN_BOX_CONVENTIONS,
    Backend,
    ScriptedBackend,
    load_backend,
    read_geocot_json,
    resolve_box_convention,
)
from geocot_cli.errors import BackendError, ConfigError, GeocotError


def _img(w: int = 8, h: int = 6) -> Image.Image:
    return Image.new("RGB", (w, h))


# --- ScriptedBackend ---------------------------------------------------------------------------


def test_scripted_cycles_canned_responses_in_order():
    backend = ScriptedBackend(["a", "b", "c"])
    assert backend.generate([_img()] * 2, ["p1", "p2"]) == ["a", "b"]
    # the cycle continues across calls and wraps around
    assert backend.generate([_img()] * 3, ["p3", "p4", "p5"]) == ["c", "a", "b"]


def test_scripted_single_string_answers_every_call():
    backend = ScriptedBackend("<answer>2</answer>")
    assert backend.generate([_img()] * 3, ["x"] * 3) == ["<answer>2</answer>"] * 3


def test_scripted_callable_sees_image_and_prompt():
    backend = ScriptedBackend(lambda image, prompt: f"{prompt}:{image.size[0]}x{image.size[1]}")
    assert backend.generate([_img(10, 4), _img(3, 7)], ["a", "b"]) == ["a:10x4", "b:3x7"]


def test_scripted_records_calls_with_size_and_prompt():
    backend = ScriptedBackend(["t"])
    backend.generate([_img(16, 9), _img(5, 5)], ["count ships", "detect planes"])
    backend.generate([_img(2, 3)], ["third"])
    assert backend.calls == [((16, 9), "count ships"), ((5, 5), "detect planes"), ((2, 3), "third")]


def test_scripted_is_deterministic():
    outputs = [ScriptedBackend(["x", "y"]).generate([_img()] * 5, ["q"] * 5) for _ in range(2)]
    assert outputs[0] == outputs[1] == ["x", "y", "x", "y", "x"]


@pytest.mark.parametrize("convention", ["pixel", "norm1000", "norm100", "norm1"])
def test_scripted_keeps_box_convention_and_is_a_backend(convention):
    backend = ScriptedBackend(["t"], box_convention=convention)
    assert backend.box_convention == convention
    assert backend.name == "scripted"
    assert isinstance(backend, Backend)


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"responder": []}, ConfigError, "at least one"),
        ({"responder": ["ok", 3]}, ConfigError, "strings"),
        ({"responder": ["ok"], "box_convention": "norm10"}, ConfigError, "norm10"),
    ],
)
def test_scripted_rejects_bad_setup(kwargs, error, needle):
    with pytest.raises(error, match=needle):
        ScriptedBackend(**kwargs)


def test_scripted_rejects_mismatched_batch_and_non_str_responses():
    with pytest.raises(BackendError, match="2 images but 1 prompts"):
        ScriptedBackend(["t"]).generate([_img(), _img()], ["only one"])
    with pytest.raises(BackendError, match="int"):
        ScriptedBackend(lambda image, prompt: 42).generate([_img()], ["q"])


# --- box conventions ---------------------------------------------------------------------------


def _model_folder(tmp_path, info):
    folder = tmp_path / "model"
    folder.mkdir()
    if info is not None:
        text = info if isinstance(info, str) else json.dumps(info)
        (folder / "geocot.json").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("info", "flag", "expected"),
    [
        ({"box_convention": "norm1000"}, None, "norm1000"),  # geocot.json
        ({"box_convention": "norm1000"}, "pixel", "pixel"),  # flag beats geocot.json
        ({"box_convention": "norm1"}, None, "norm1"),
        ({"image_size": 64}, "norm100", "norm100"),  # file without the key: flag
    ],
)
def test_resolve_box_convention_from_folder(tmp_path, info, flag, expected):
    folder = _model_folder(tmp_path, info)
    assert resolve_box_convention(str(folder), flag) == expected
    assert resolve_box_convention(folder, flag) == expected  # a Path works too


@pytest.mark.parametrize(
    ("model", "flag", "expected"),
    [
        ("minglanga/RSThinker", None, "pixel"),
        ("MINGLANGA/rsthinker", None, "pixel"),  # hub ids are case-insensitive
        ("zai-org/GLM-4.1V-9B-Thinking", None, "norm1000"),
        ("minglanga/RSThinker", "norm1000", "norm1000"),  # flag beats the table
        ("someone/unknown", "norm1", "norm1"),
        (None, "pixel", "pixel"),
    ],
)
def test_resolve_box_convention_table(model, flag, expected):
    assert resolve_box_convention(model, flag) == expected


def test_known_table_only_holds_valid_conventions():
    from geocot_cli.types import BOX_CONVENTIONS

    assert KNOWN_BOX_CONVENTIONS["minglanga/rsthinker"] == "pixel"
    assert set(KNOWN_BOX_CONVENTIONS.values()) <= set(BOX_CONVENTIONS)
    assert all(key == key.lower() for key in KNOWN_BOX_CONVENTIONS)


@pytest.mark.parametrize("model", ["someone/unknown-vlm", None, "Qwen/Qwen2.5-VL-7B-Instruct"])
def test_resolve_box_convention_refuses_to_guess(model):
    with pytest.raises(BackendError, match=r"--box-convention pixel\|norm1000\|norm100\|norm1"):
        resolve_box_convention(model, None)


def test_resolve_box_convention_folder_without_geocot_json_refuses(tmp_path):
    folder = _model_folder(tmp_path, None)
    with pytest.raises(BackendError, match="--box-convention"):
        resolve_box_convention(str(folder), None)


@pytest.mark.parametrize(
    ("info", "error", "needle"),
    [
        ({"box_convention": "pixels"}, ConfigError, "pixels"),
        ({"box_convention": 1000}, BackendError, "must be a string"),
        ("[1, 2]", BackendError, "JSON object"),
        ("{not json", BackendError, "cannot read"),
    ],
)
def test_bad_geocot_json_names_the_problem(tmp_path, info, error, needle):
    folder = _model_folder(tmp_path, info)
    with pytest.raises(error, match=needle):
        resolve_box_convention(str(folder), None)


def test_bad_flag_is_rejected_even_with_geocot_json(tmp_path):
    folder = _model_folder(tmp_path, {"box_convention": "pixel"})
    with pytest.raises(ConfigError, match="'norm10'"):
        resolve_box_convention(str(folder), "norm10")


def test_read_geocot_json(tmp_path):
    folder = _model_folder(tmp_path, {"box_convention": "pixel", "image_size": 64})
    assert read_geocot_json(folder) == {"box_convention": "pixel", "image_size": 64}
    assert read_geocot_json(tmp_path / "missing") == {}
    assert read_geocot_json("minglanga/RSThinker") == {}


# --- factory -----------------------------------------------------------------------------------


def test_load_backend_scripted_and_unknown():
    backend = load_backend(None, backend="scripted", responder=["r"], box_convention="norm100")
    assert isinstance(backend, ScriptedBackend) and backend.box_convention == "norm100"
    with pytest.raises(ConfigError, match="unknown backend 'onnx'"):
        load_backend("m", backend="onnx")


def test_load_backend_hf_needs_a_model():
    with pytest.raises(ConfigError, match="--model"):
        load_backend(None)


def test_load_backend_hf_missing_folder_is_a_geocot_error(tmp_path):
    with pytest.raises(GeocotError, match="does not exist"):
        load_backend(str(tmp_path / "no-such-model"), box_convention="pixel")


def test_importing_backends_and_models_imports_no_torch():
    code = (
        "import sys, geocot_cli.backends, geocot_cli.backends.hf, geocot_cli.models; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_load_backend_openai_needs_base_url_and_builds_the_client():
    with pytest.raises(ConfigError, match="--base-url"):
        load_backend("served-model", backend="openai", box_convention="pixel")
    with pytest.raises(ConfigError, match="--model"):
        load_backend(None, backend="openai", base_url="http://localhost:8000/v1", box_convention="pixel")
    backend = load_backend(
        "served-model", backend="openai", base_url="http://localhost:8000/v1", box_convention="norm1000"
    )
    assert type(backend).__name__ == "OpenAIBackend"
    assert isinstance(backend, Backend) and backend.box_convention == "norm1000"
