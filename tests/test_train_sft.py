"""Stage I (SFT) on the tiny GLM-4.1V model: masking, learning, exact resume, bad data, LoRA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geocot_cli.errors import ConfigError, DataError, OutputError
from geocot_cli.train.config import SFTOptions


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_set(folder: Path, n: int, *, seed: int = 0, size: int = 32) -> Path:
    """``n`` count samples with short canonical Geo-CoT traces and their images; returns the JSONL."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
        k = i % 3
        boxes = []
        for _ in range(k):
            x, y = (int(v) for v in rng.integers(0, size // 2, 2))
            boxes.append([x, y, x + int(rng.integers(3, size // 2)), y + int(rng.integers(3, size // 2))])
        grounding = "\n".join(f"{j + 1}. ship [{b[0]},{b[1]},{b[2]},{b[3]}]: a ship." for j, b in enumerate(boxes))
        trace = (f"<think>Planning: I will find each ship.\nGrounding:\n{grounding}\n"
                 f"Synthesis: I grounded {k} ships.</think>\n<answer>{k}</answer>")
        lines.append({"image": f"im{i}.png", "task": "count", "question": "How many ships are in the image?",
                      "count": k, "boxes": boxes, "labels": ["ship"] * k, "trace": trace, "id": f"s{i}",
                      "meta": {"box_convention": "pixel"}})
    path = folder / "sft.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    return path


def opts(tiny_model: Path, data: Path, out: Path, **kw) -> SFTOptions:
    base = dict(model=str(tiny_model), data=str(data), out=str(out), cpu=True, warmup_ratio=0.0,
                lr_schedule="constant", learning_rate=1e-3)
    return SFTOptions(**{**base, **kw})


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


# --------------------------------------------------------------------------------------- inputs
def test_labels_mask_exactly_the_prompt_and_image_tokens(tiny_model, tmp_path):
    from transformers import AutoProcessor

    from geocot_cli.backends.hf import HFBackend
    from geocot_cli.train.collate import IGNORE_INDEX, collate_sft, encode_sft, render_prompt
    from geocot_cli.train.dataset import load_training_samples, sample_prompt

    data = load_training_samples(write_set(tmp_path, 2), need_trace=True)
    processor = AutoProcessor.from_pretrained(tiny_model)
    s = data.samples[1]
    prompt = sample_prompt(s)
    # the prompt text is the one the transformers backend renders at inference
    backend_text = processor.apply_chat_template([HFBackend._messages(None, prompt)], add_generation_prompt=True,
                                                 tokenize=False)[0]
    assert render_prompt(processor, prompt) == backend_text
    image = Image.open(s.image)
    ex = encode_sft(processor, image, prompt, s.trace)
    prompt_ids = processor(text=[backend_text], images=[image.convert("RGB")], add_special_tokens=False,
                           return_tensors="pt")["input_ids"][0]
    p = prompt_ids.numel()
    assert ex["input_ids"][:p].tolist() == prompt_ids.tolist()
    assert (ex["labels"][:p] == IGNORE_INDEX).all() and (ex["labels"][p:] != IGNORE_INDEX).all()
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image|>")
    assert (ex["input_ids"] == image_id).sum() > 0
    assert (ex["labels"][ex["input_ids"] == image_id] == IGNORE_INDEX).all()
    answer = processor.tokenizer.decode(ex["labels"][p:].tolist())
    assert answer == s.trace + processor.tokenizer.eos_token
    # in a batch, padding is masked too and never attended
    short = encode_sft(processor, image, prompt, "<answer>1</answer>")
    batch = collate_sft([ex, short], pad_id=processor.tokenizer.pad_token_id)
    n_short = short["input_ids"].numel()
    assert (batch["labels"][1, n_short:] == IGNORE_INDEX).all() and (batch["attention_mask"][1, n_short:] == 0).all()
    assert batch["pixel_values"].shape[0] == 2 * ex["pixel_values"].shape[0]


def test_sample_prompt_is_the_eval_prompt():
    from geocot_cli.data.schema import Sample
    from geocot_cli.prompts import build_prompt
    from geocot_cli.train.dataset import sample_prompt

    s = Sample(image=Path("/a.png"), task="detect", boxes=((0, 0, 4, 4),), labels=("ship",))
    assert sample_prompt(s) == build_prompt("detect", None, ["ship"])
    c = Sample(image=Path("/a.png"), task="classify", cls="harbor")
    assert sample_prompt(c, ["airport", "harbor"]) == build_prompt("classify", None, ["airport", "harbor"])


def test_box_loss_weights_mark_exactly_the_box_tokens(tiny_model, tmp_path):
    from transformers import AutoProcessor

    from geocot_cli.train.collate import collate_sft, encode_sft

    processor = AutoProcessor.from_pretrained(tiny_model)
    image = Image.new("RGB", (32, 32), (90, 120, 60))
    trace = ("<think>Planning: find ships [x1,y1,x2,y2].\nGrounding:\n1. ship [3,4,12,20]: a ship.\n2. ship "
             "[ 1.5, 2, 30, 31 ]: another.\nSynthesis: see [1].</think>\n<answer>[[3,4,12,20], [7,8,9,10]]</answer>")
    plain = encode_sft(processor, image, "How many ships?", trace)
    ex = encode_sft(processor, image, "How many ships?", trace, box_weight=4.0)
    assert "loss_weights" not in plain and ex["input_ids"].tolist() == plain["input_ids"].tolist()
    w = ex["loss_weights"]
    assert w.shape == ex["input_ids"].shape and set(w.tolist()) == {1.0, 4.0}
    assert (w[ex["labels"] == -100] == 1.0).all()  # the prompt and image are never weighted
    tok = processor.tokenizer
    heavy = tok.decode(ex["input_ids"][w == 4.0].tolist()).replace(" ", "")
    # every digit of the four well-formed boxes, and nothing of the placeholder, the citation or the prose
    assert "".join(ch for ch in heavy if ch.isdigit() or ch == ".") == "3412201.52303134122078910"
    assert not any(ch.isalpha() for ch in heavy)
    light = tok.decode(ex["input_ids"][(w == 1.0) & (ex["labels"] != -100)].tolist())
    assert "x1" in light and "[1]" in light.replace(" ", "")
    # padding carries weight 0; truncation cuts the weights with the tokens
    batch = collate_sft([ex, encode_sft(processor, image, "q", "<answer>1</answer>", box_weight=4.0)],
                        pad_id=tok.pad_token_id)
    assert batch["loss_weights"].shape == batch["labels"].shape
    assert batch["loss_weights"][1, -1] == 0 and batch["labels"][1, -1] == -100
    cut = encode_sft(processor, image, "How many ships?", trace, box_weight=4.0,
                     max_length=ex["input_ids"].numel() - 5)
    assert cut["loss_weights"].numel() == cut["input_ids"].numel() == cut["labels"].numel()


def weighted_batch(tiny_model: Path, data: Path, box_weight: float):
    """The untrained tiny model and one collated batch of every sample of ``data`` with box weights."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from geocot_cli.train.collate import collate_sft, encode_sft
    from geocot_cli.train.dataset import load_training_samples, sample_prompt
    from geocot_cli.train.sft import _model_inputs

    samples = load_training_samples(data, need_trace=True).samples
    processor = AutoProcessor.from_pretrained(tiny_model)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model).eval()
    exs = [encode_sft(processor, Image.open(s.image), sample_prompt(s), s.trace, box_weight=box_weight)
           for s in samples]
    batch = collate_sft(exs, pad_id=processor.tokenizer.pad_token_id)
    inputs, _ = _model_inputs(batch, "cpu")
    return model, batch, inputs


def test_weighted_token_loss_with_unit_weights_is_the_models_own_loss(tiny_model, tmp_path):
    import torch

    from geocot_cli.train.sft import weighted_token_loss

    model, batch, inputs = weighted_batch(tiny_model, write_set(tmp_path, 3), 3.0)
    with torch.no_grad():
        out = model(**inputs, labels=batch["labels"])
        n = int((batch["labels"][:, 1:] != -100).sum())
        ones = torch.ones_like(batch["loss_weights"])
        unit = float(weighted_token_loss(out.logits, batch["labels"], ones)) / n
        assert unit == pytest.approx(float(out.loss), rel=1e-5)
        # with the box weights the mean moves toward the box tokens' own loss
        w = batch["loss_weights"]
        answer = (batch["labels"][:, 1:] != -100).float()
        heavy = float(weighted_token_loss(out.logits, batch["labels"], w)) / float((w[:, 1:] * answer).sum())
        box_only = (w == 3.0).float()
        box = float(weighted_token_loss(out.logits, batch["labels"], box_only)) / float(box_only[:, 1:].sum())
        assert abs(heavy - box) < abs(float(out.loss) - box)


def test_box_loss_weight_is_applied_in_the_training_step(tiny_model, tmp_path):
    """Step 1's logged loss is the weighted mean over the whole batch, computed here from the untrained model."""
    import torch

    from geocot_cli.train.sft import train_sft, weighted_token_loss

    path = write_set(tmp_path / "d", 6)
    model, batch, inputs = weighted_batch(tiny_model, path, 5.0)
    with torch.no_grad():
        logits = model(**inputs).logits
    w = batch["loss_weights"]
    mask = (batch["labels"][:, 1:] != -100).float()
    expected = float(weighted_token_loss(logits, batch["labels"], w)) / float((w[:, 1:] * mask).sum())
    plain = float(weighted_token_loss(logits, batch["labels"], torch.ones_like(w))) / float(mask.sum())
    assert abs(expected - plain) > 1e-3  # the weights make a difference on this batch
    weighted = train_sft(opts(tiny_model, path, tmp_path / "w", max_steps=2, batch_size=6, box_loss_weight=5.0))
    unit = train_sft(opts(tiny_model, path, tmp_path / "u", max_steps=2, batch_size=6))
    assert weighted.series("loss")[0] == pytest.approx(expected, rel=1e-4)
    assert unit.series("loss")[0] == pytest.approx(plain, rel=1e-4)
    a, b = weights(tmp_path / "w"), weights(tmp_path / "u")
    assert any(float((a[k] - b[k]).abs().max()) > 0 for k in a)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
def test_bad_box_loss_weight_is_a_config_error(tiny_model, tmp_path, bad):
    with pytest.raises(ConfigError, match="box_loss_weight .* must be a number > 0"):
        opts(tiny_model, tmp_path / "d.jsonl", tmp_path / "o", box_loss_weight=bad)


# ------------------------------------------------------------------------------------- learning
def test_sft_loss_falls_on_a_fixed_set(tiny_model, tmp_path):
    from geocot_cli.train.sft import train_sft

    data = write_set(tmp_path / "d", 8)
    result = train_sft(opts(tiny_model, data, tmp_path / "run", max_steps=30, batch_size=8, learning_rate=3e-2))
    losses = result.series("loss")
    assert len(losses) == 30
    assert losses[-1] < 0.5 * losses[0], losses
    # the log on disk holds the same figures, and the folder loads as a model
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in logged if "loss" in r] == pytest.approx(losses)
    info = json.loads((tmp_path / "run" / "geocot.json").read_text())
    assert info["box_convention"] == "pixel" and info["trained"] is True and info["training"]["stage"] == "sft"
    assert info["image_size"] == 64  # kept from the base model's geocot.json
    assert {"config.json", "model.safetensors", "tokenizer.json", "recipe.yaml"} <= {
        p.name for p in (tmp_path / "run").iterdir()}


def test_resumed_run_matches_an_uninterrupted_one(tiny_model, tmp_path):
    from geocot_cli.train.sft import train_sft

    data = write_set(tmp_path / "d", 10)
    # 10 samples, micro-batches of 2, 2 per step: 3 steps per epoch; 5 steps cross an epoch boundary
    base = dict(max_steps=5, batch_size=2, grad_accum=2, save_every=2, eval_fraction=0.2, lr_schedule="cosine")
    full = train_sft(opts(tiny_model, data, tmp_path / "full", **base))
    ckpts = sorted(p.name for p in (tmp_path / "full" / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-000002", "checkpoint-000004"]
    resumed = train_sft(opts(tiny_model, data, tmp_path / "resumed", **base,
                             resume=str(tmp_path / "full" / "checkpoints" / "checkpoint-000002")))
    assert resumed.steps == 5 and resumed.resumed_from.name == "checkpoint-000002"
    assert full.history[-1]["final"] and 0 < full.history[-1]["eval_loss"] < 10  # the held-out 20%
    assert resumed.series("loss") == pytest.approx(full.series("loss")[2:], abs=1e-6)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    assert a != {} and any(float((a[k] - weights(tiny_model)[k]).abs().max()) > 0 for k in a)  # it trained


def test_resume_latest_continues_in_place_and_refuses_changed_options(tiny_model, tmp_path):
    from geocot_cli.train.sft import train_sft

    data = write_set(tmp_path / "d", 4)
    out = tmp_path / "run"
    train_sft(opts(tiny_model, data, out, max_steps=2, batch_size=2, save_every=1, save_total_limit=1))
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-000002"]
    with pytest.raises(ConfigError, match="learning_rate=0.001 but this run has learning_rate=0.002"):
        train_sft(opts(tiny_model, data, out, max_steps=3, batch_size=2, learning_rate=2e-3, resume="latest"))
    with pytest.raises(OutputError, match="not empty; pass --resume latest"):
        train_sft(opts(tiny_model, data, out, max_steps=3, batch_size=2))
    result = train_sft(opts(tiny_model, data, out, max_steps=3, batch_size=2, save_every=1, resume="latest"))
    assert result.steps == 3
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 2, 3, 3]  # steps 1-2, the first run's final line, step 3, the final line


# ------------------------------------------------------------------------------------- bad data
@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a model is loaded: data errors must come first."""
    import geocot_cli.train.sft as sft

    def boom(*a, **k):
        raise AssertionError("a model was loaded before the data was checked")

    monkeypatch.setattr(sft, "load_model", boom)


@pytest.mark.parametrize("break_line, message", [
    (lambda d: "{not json", r"sft.jsonl:2: not valid JSON"),
    (lambda d: json.dumps({**d, "image": "missing.png"}), r"sft.jsonl:2 \(s1\): image .*missing.png not found"),
    (lambda d: json.dumps({**d, "task": "segment"}), r"sft.jsonl:2: field 'task': unknown task 'segment'"),
    (lambda d: json.dumps({k: v for k, v in d.items() if k != "trace"}), r"sft.jsonl:2 \(s1\): no trace"),
    (lambda d: json.dumps({**d, "meta": {"box_convention": "norm1000"}}),
     r"sft.jsonl:2 \(s1\): the trace writes boxes in norm1000 but the model reads pixel"),
])
def test_bad_data_stops_before_training_naming_the_line(tiny_model, tmp_path, no_model, break_line, message):
    from geocot_cli.train.sft import train_sft

    data = write_set(tmp_path / "d", 3)
    lines = data.read_text().splitlines()
    lines[1] = break_line(json.loads(lines[1]))
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message):
        train_sft(opts(tiny_model, data, tmp_path / "run", max_steps=1))
    assert not (tmp_path / "run").exists()


def test_cli_bad_data_exit_code_and_message(tiny_model, tmp_path, runner, no_model):
    from geocot_cli.cli.train import app

    data = write_set(tmp_path / "d", 2)
    data.write_text(data.read_text() + '{"image": "im0.png", "task": "count"\n')
    res = runner.invoke(app, ["sft", "--model", str(tiny_model), "--data", str(data), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "sft.jsonl:3: not valid JSON" in res.stderr


# ------------------------------------------------------------------------------------------ LoRA
def test_lora_trains_adapters_and_saves_a_merged_model(tiny_model, tmp_path):
    from transformers import AutoModelForImageTextToText

    from geocot_cli.train.sft import train_sft

    data = write_set(tmp_path / "d", 4)
    out = tmp_path / "lora"
    train_sft(opts(tiny_model, data, out, max_steps=2, batch_size=2, lora=True, lora_r=4, learning_rate=1e-2,
                   freeze_vision=True))
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged, base = weights(out), weights(tiny_model)
    assert merged.keys() == base.keys()  # a plain model: ask/eval load it as any other
    changed = {k for k in base if float((merged[k] - base[k]).abs().max()) > 0}
    assert changed and all("language_model" in k and k.endswith("proj.weight") for k in changed)
    AutoModelForImageTextToText.from_pretrained(out)
