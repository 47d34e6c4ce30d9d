"""The tiny GLM-4.1V model and the transformers backend: the real model path, end to end, on CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from geocot_cli.backends.hf import HFBackend, decode_completions, resolve_device, resolve_dtype  # noqa: E402
from geocot_cli.config import GenerationOptions  # noqa: E402
from geocot_cli.errors import BackendError, ConfigError, ModelNotFoundError, OutputError  # noqa: E402
from geocot_cli.models.tiny import build_tiny_model  # noqa: E402

TRACE = (
    "<think>Planning: The question asks how many ships are in the image. I will locate each ship.\n"
    "Grounding:\n1. ship [120,40,180,90]: a ship moored along the pier.\n"
    "Synthesis: I grounded 1 ship, so the answer is 1.</think>\n<answer>1</answer>"
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def backend(tiny_model) -> HFBackend:
    return HFBackend(tiny_model, device="cpu", generation=GenerationOptions(max_new_tokens=12, batch_size=4))


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)),  # 96 wide, 80 high
    ]


def _linked_copy(src: Path, dst: Path, info: dict | None) -> Path:
    """The model folder with its files linked and geocot.json replaced (or removed)."""
    dst.mkdir()
    for f in src.iterdir():
        if f.name != "geocot.json":
            (dst / f.name).symlink_to(f)
    if info is not None:
        (dst / "geocot.json").write_text(json.dumps(info), encoding="utf-8")
    return dst


# --- the folder --------------------------------------------------------------------------------


def test_folder_holds_safetensors_processor_and_geocot_json(tiny_model):
    names = {f.name for f in tiny_model.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "geocot.json"} <= names
    assert not any(n.endswith(".bin") for n in names)
    info = json.loads((tiny_model / "geocot.json").read_text())
    assert info["box_convention"] == "pixel"
    assert info["image_size"] == 64
    assert info["architecture"] == "Glm4vForConditionalGeneration"
    assert info["coordinate_tokens"] == 0
    size = sum(f.stat().st_size for f in tiny_model.iterdir())
    assert size < 5_000_000


def test_loads_through_auto_classes(tiny_model):
    from transformers import (
        AutoModelForImageTextToText,
        AutoProcessor,
        Glm4vForConditionalGeneration,
        Glm4vProcessor,
    )

    processor = AutoProcessor.from_pretrained(tiny_model)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model, use_safetensors=True)
    assert isinstance(processor, Glm4vProcessor)
    assert isinstance(model, Glm4vForConditionalGeneration)
    tok = processor.tokenizer
    for attr, token in [
        ("image_token_id", "<|image|>"),
        ("image_start_token_id", "<|begin_of_image|>"),
        ("image_end_token_id", "<|end_of_image|>"),
        ("video_token_id", "<|video|>"),
    ]:
        assert getattr(model.config, attr) == tok.convert_tokens_to_ids(token)
    assert model.config.text_config.vocab_size >= len(tok)
    assert model.config.vision_config.out_hidden_size == model.config.text_config.hidden_size


def test_chat_template_renders_glm_prompt(backend):
    text = backend.processor.apply_chat_template(
        [backend._messages("How many ships?")], add_generation_prompt=True, tokenize=False
    )[0]
    assert text == "[gMASK]<sop><|user|>\n<|begin_of_image|><|image|><|end_of_image|>How many ships?<|assistant|>\n"


def test_tags_are_whole_tokens_and_the_trace_round_trips(backend):
    tok = backend.processor.tokenizer
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert tok.tokenize(tag) == [tag]
    ids = tok(TRACE, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == TRACE
    assert "".join(tok.tokenize("[120,40]")) == "[120,40]"
    assert tok.tokenize("173") == ["1", "7", "3"]  # digits one by one without coordinate tokens


def test_processor_resizes_towards_image_size(backend, images):
    out = backend.processor.image_processor(images=[images[0], Image.new("RGB", (800, 800))], return_tensors="pt")
    # 64x64 stays 64x64 (8x8 patches of 8 px); an 800 px tile shrinks to about 64x64
    assert out["image_grid_thw"].tolist() == [[1, 8, 8], [1, 8, 8]]


def test_coordinate_tokens_give_each_value_one_token(tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    path = build_tiny_model(tmp_path / "coords", coordinate_tokens=1000, box_convention="norm1000")
    info = json.loads((path / "geocot.json").read_text())
    assert info["coordinate_tokens"] == 1000 and info["box_convention"] == "norm1000"
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.tokenize("[120,40,1000,7]") == ["[", "120", ",", "40", ",", "1000", ",", "7", "]"]
    assert tok.decode(tok("[120,40,1000,7]")["input_ids"]) == "[120,40,1000,7]"
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert model.config.text_config.vocab_size >= len(tok)
    # sinusoidal start: neighbouring values are closer than distant ones
    emb = model.get_input_embeddings().weight
    i100, i101, i900 = tok.convert_tokens_to_ids(["100", "101", "900"])
    assert torch.dist(emb[i100], emb[i101]) < torch.dist(emb[i100], emb[i900])


def _column_rotation(model) -> float:
    """Largest change of any rotary cos between image patches in column 0 and column 7 (same row)."""
    import torch

    rotary = model.model.language_model.rotary_emb
    x = torch.zeros(1, 1, model.config.text_config.hidden_size)
    ids = torch.tensor([[[0, 0]], [[0, 0]], [[0, 7]]])  # (t, h, w) x batch 1 x two tokens
    cos, _ = rotary(x, ids)
    return float((cos[0, 0] - cos[0, 1]).abs().max())


def test_spatial_positions_make_columns_readable(tmp_path, images):
    import torch
    from transformers import AutoModelForImageTextToText

    plain = AutoModelForImageTextToText.from_pretrained(
        build_tiny_model(tmp_path / "plain", hidden_size=64, num_heads=4)
    )
    path = build_tiny_model(tmp_path / "spatial", hidden_size=64, num_heads=4, spatial_positions=True)
    assert json.loads((path / "geocot.json").read_text())["spatial_positions"] is True
    spatial = AutoModelForImageTextToText.from_pretrained(path)
    rope = spatial.config.text_config.rope_parameters
    time, rows, cols = rope["mrope_section"]
    assert time == 0 and rows + cols == 64 // 4 // 2 and rows < cols
    # GLM-4.1V's split leaves the columns of an 8x8 grid almost unrotated; the spatial one does not
    assert _column_rotation(plain) < 0.01
    assert _column_rotation(spatial) > 1.0  # columns start at 0.32 rad each: 7 columns turn 2.2 rad
    # the vision position table is a unit-scale 2-D code: distinct rows, neighbours closer than far patches
    table = spatial.model.visual.embeddings.position_embedding.weight
    assert 0.3 < float(table.std()) < 1.0 and float(plain.model.visual.embeddings.position_embedding.weight.std()) < 0.1
    assert torch.dist(table[0], table[1]) < torch.dist(table[0], table[7])
    assert len({tuple(r.tolist()) for r in table}) == table.shape[0]
    # and the model still runs through the real backend
    backend = HFBackend(path, device="cpu", generation=GenerationOptions(max_new_tokens=4))
    out = backend.generate(images[:1], ["Any ship?"])
    assert len(out) == 1 and isinstance(out[0], str)


def _score_across(model, distance: int) -> tuple[float, float]:
    """q.k of a query and key with the same content in a head's last half, 1 and ``distance`` text tokens apart."""
    import torch
    from transformers.models.glm4v.modeling_glm4v import apply_rotary_pos_emb

    text = model.config.text_config
    head = text.hidden_size // text.num_attention_heads
    rotary = model.model.language_model.rotary_emb
    v = torch.zeros(1, 1, 2, head)
    v[..., head // 2:] = 1.0
    scores = []
    for d in (1, distance):
        ids = torch.tensor([0, d]).view(1, 1, 2).expand(3, 1, 2)  # text: time = row = column = position
        cos, sin = rotary(torch.zeros(1, 1, text.hidden_size), ids)
        q, k = apply_rotary_pos_emb(v, v, cos, sin)
        scores.append(float(q[0, 0, 1] @ k[0, 0, 0]))
    return scores[0], scores[1]


def test_rotary_fraction_leaves_position_free_channels(tmp_path):
    from transformers import AutoModelForImageTextToText

    full = AutoModelForImageTextToText.from_pretrained(
        build_tiny_model(tmp_path / "full", hidden_size=64, num_heads=4, spatial_positions=True)
    )
    path = build_tiny_model(tmp_path / "half", hidden_size=64, num_heads=4, spatial_positions=True, rotary_fraction=0.5)
    assert json.loads((path / "geocot.json").read_text())["rotary_fraction"] == 0.5
    half = AutoModelForImageTextToText.from_pretrained(path)
    rope = half.config.text_config.rope_parameters
    assert rope["partial_rotary_factor"] == 0.5 and rope["mrope_section"][0] == 0
    assert sum(rope["mrope_section"]) == 16 * 0.5 // 2
    # the unrotated half matches the same content at any distance; fully rotated, 200 tokens turn it away
    near, far = _score_across(half, 200)
    assert near == pytest.approx(8.0) and far == pytest.approx(8.0)
    near, far = _score_across(full, 200)
    assert near > 7.0 and abs(far - near) > 2.0
    # columns still turn fast enough to tell 8 patches apart
    assert _column_rotation(half) > 1.0
    with pytest.raises(ConfigError, match="rotary_fraction"):
        build_tiny_model(tmp_path / "bad", hidden_size=64, num_heads=4, rotary_fraction=0.3)


def test_build_refuses_non_empty_folder_and_bad_sizes(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not empty"):
        build_tiny_model(tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        build_tiny_model(tmp_path / "a", image_size=60)
    with pytest.raises(ConfigError, match="num_heads"):
        build_tiny_model(tmp_path / "b", hidden_size=64, num_heads=3)
    with pytest.raises(ConfigError, match="unknown box convention"):
        build_tiny_model(tmp_path / "c", box_convention="pixels")


# --- the backend -------------------------------------------------------------------------------


def test_generate_one_string_per_image_for_mixed_sizes(backend, images):
    gray = images[0].convert("L")  # single-band input is converted to RGB
    out = backend.generate([images[0], images[1], gray], ["How many ships?", "Detect every plane.", "Any ship?"])
    assert len(out) == 3 and all(isinstance(t, str) for t in out)


def test_greedy_generation_is_deterministic(backend, images):
    prompts = ["How many ships are in the image?", "Detect every plane."]
    assert backend.generate(images, prompts) == backend.generate(images, prompts)


def test_batched_output_matches_one_by_one(backend, images):
    """Left padding and per-image positions: a tile's answer does not depend on its batch mates."""
    prompts = ["How many ships are in the image?", "Detect every plane and give its box."]
    batched = backend.generate(images, prompts)
    single = [backend.generate([im], [p])[0] for im, p in zip(images, prompts)]
    assert batched == single


def test_generate_rejects_mismatched_batch(backend, images):
    with pytest.raises(BackendError, match="2 images but 1 prompts"):
        backend.generate(images, ["one prompt"])


def test_repetition_penalty_is_the_flag_else_the_models_own_else_the_papers(tiny_model, tmp_path, images):
    info = {k: v for k, v in json.loads((tiny_model / "geocot.json").read_text()).items() if k != "repetition_penalty"}
    plain = _linked_copy(tiny_model, tmp_path / "plain", info)
    own = _linked_copy(tiny_model, tmp_path / "own", {**info, "repetition_penalty": 1.0})
    gen = GenerationOptions(max_new_tokens=8)
    assert HFBackend(plain, device="cpu", generation=gen)._generation_config().repetition_penalty == 1.1
    declared = HFBackend(own, device="cpu", generation=gen)
    assert declared._generation_config().repetition_penalty == 1.0
    flagged = HFBackend(own, device="cpu", generation=GenerationOptions(max_new_tokens=8, repetition_penalty=1.3))
    assert flagged._generation_config().repetition_penalty == 1.3
    # the declared value is what decoding uses: the same text as asking for 1.0 explicitly
    explicit = HFBackend(plain, device="cpu", generation=GenerationOptions(max_new_tokens=8, repetition_penalty=1.0))
    prompts = ["How many ships are in the image?", "Detect every plane."]
    assert declared.generate(images, prompts) == explicit.generate(images, prompts)


@pytest.mark.parametrize("bad", [0, -1.0, "1.0", True, None])
def test_a_bad_declared_repetition_penalty_is_a_clear_error(tiny_model, tmp_path, bad):
    info = json.loads((tiny_model / "geocot.json").read_text())
    folder = _linked_copy(tiny_model, tmp_path / "bad", {**info, "repetition_penalty": bad})
    with pytest.raises(BackendError, match="repetition_penalty must be a number > 0"):
        HFBackend(folder, device="cpu")


def test_backend_box_convention_and_defaults(backend, tiny_model):
    assert backend.box_convention == "pixel"  # from geocot.json
    assert backend.name == f"hf:{tiny_model}"
    assert backend.device == "cpu" and str(backend.dtype) == "torch.float32"
    assert backend.processor.tokenizer.padding_side == "left"


def test_box_convention_from_geocot_json_and_flag(tiny_model, tmp_path):
    norm = _linked_copy(tiny_model, tmp_path / "norm", {"box_convention": "norm1000"})
    assert HFBackend(norm, device="cpu").box_convention == "norm1000"
    assert HFBackend(norm, device="cpu", box_convention="norm100").box_convention == "norm100"
    bare = _linked_copy(tiny_model, tmp_path / "bare", None)
    with pytest.raises(BackendError, match="--box-convention"):
        HFBackend(bare, device="cpu")
    assert HFBackend(bare, device="cpu", box_convention="pixel").box_convention == "pixel"


def test_missing_or_empty_folder_is_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist") as missing:
        HFBackend(tmp_path / "no-such-model", box_convention="pixel")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no config.json") as empty:
        HFBackend(tmp_path / "empty", box_convention="pixel")
    for info in (missing, empty):
        assert "\n" not in str(info.value)


def test_unreachable_hub_id_is_model_not_found():
    # HF_HUB_OFFLINE=1 (conftest): an uncached hub id cannot be fetched
    with pytest.raises(ModelNotFoundError, match="geocot-test/no-such-model") as info:
        HFBackend("geocot-test/no-such-model", box_convention="pixel", device="cpu")
    assert "\n" not in str(info.value)


def test_decode_keeps_tags_even_when_the_tokenizer_marks_them_special():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "<think>", "</think>", "<answer>", "</answer>", "a", "2"])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="<pad>",
        eos_token="<eos>",
        additional_special_tokens=["<think>", "</think>", "<answer>", "</answer>"],
    )
    assert tok.decode([2, 6, 3], skip_special_tokens=True) == "a"  # what plain decoding would lose
    rows = [[2, 6, 3, 4, 7, 5, 1, 6, 6], [0, 0, 4, 7, 5, 0]]
    texts = decode_completions(tok, rows, eos_ids=[1])
    assert [t.replace(" ", "") for t in texts] == ["<think>a</think><answer>2</answer>", "<answer>2</answer>"]


def test_device_and_dtype_resolution():
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto") in ("cpu", "mps")
        with pytest.raises(BackendError, match="--device cpu"):
            resolve_device("cuda")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(ConfigError, match="'float8'"):
        resolve_dtype("float8", "cpu")
    with pytest.raises(ConfigError, match="'tpu'"):
        resolve_device("tpu")


def test_folder_without_weights_is_model_not_found(tiny_model, tmp_path):
    folder = _linked_copy(tiny_model, tmp_path / "no-weights", {"box_convention": "pixel"})
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="no-weights") as info:
        HFBackend(folder, device="cpu")
    assert "\n" not in str(info.value)
