"""A tiny, randomly initialised GLM-4.1V model: the real architecture at a size that runs in seconds.

:func:`build_tiny_model` writes a folder that loads exactly like ``minglanga/RSThinker`` does
(``AutoProcessor`` + ``AutoModelForImageTextToText``; transformers class
``Glm4vForConditionalGeneration``), so every code path that serves, trains or evaluates the paper's
model can be exercised on a CPU in tests, and a demo model can be trained from it on a laptop:

- a small :class:`~transformers.Glm4vConfig` (few layers, narrow widths, small vision tower);
- a byte-level BPE tokenizer trained with ``tokenizers`` on a built-in Geo-CoT-like corpus, holding
  every special token the GLM-4.1V chat template and processor need, with ``<think>``,
  ``</think>``, ``<answer>``, ``</answer>`` as whole (non-special) tokens that survive decoding;
  digits are split one by one unless ``coordinate_tokens`` gives every value ``0..N`` its own token;
- the real :class:`~transformers.Glm4vProcessor` with its image and video processors configured
  for small images (``image_size`` pixels a side);
- a GLM-4.1V style chat template;
- ``geocot.json``: ``{"box_convention", "image_size", "architecture", "coordinate_tokens", ...}``.

Torch and transformers are imported inside :func:`build_tiny_model` only.

>>> from geocot_cli.models.tiny import tiny_corpus
>>> lines = tiny_corpus(seed=0, samples=3)
>>> any("<think>" in line for line in lines)
True
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from ..boxes import check_convention
from ..errors import ConfigError, OutputError

__all__ = [
    "ANSWER_TAGS",
    "CHAT_TEMPLATE",
    "GLM_SPECIAL_TOKENS",
    "build_tiny_model",
    "tiny_corpus",
]

#: The special tokens of GLM-4.1V that its chat template and processor use (same strings as the
#: real tokenizer, so prompts render identically; ids differ).
GLM_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
)

#: Geo-CoT tags: whole tokens, not special, so ``skip_special_tokens`` keeps their text.
ANSWER_TAGS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")

#: A GLM-4.1V style chat template: ``[gMASK]<sop><|user|>\n<|begin_of_image|><|image|><|end_of_image|>
#: question<|assistant|>\n``; content is a string or a list of ``{"type": "image"|"video"|"text"}`` items.
CHAT_TEMPLATE = (
    "{{- '[gMASK]<sop>' -}}"
    "{%- for message in messages -%}"
    "{{- '<|' + message['role'] + '|>\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'video' or 'video' in item -%}"
    "{{- '<|begin_of_video|><|video|><|end_of_video|>' -}}"
    "{%- elif item['type'] == 'image' or 'image' in item -%}"
    "{{- '<|begin_of_image|><|image|><|end_of_image|>' -}}"
    "{%- elif item['type'] == 'text' -%}"
    "{{- item['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}"
)

_CLASSES = (
    "plane", "ship", "storage tank", "baseball diamond", "tennis court", "basketball court",
    "ground track field", "harbor", "bridge", "large vehicle", "small vehicle", "helicopter",
    "roundabout", "soccer ball field", "swimming pool", "container crane", "airport", "helipad",
)
_SCENES = (
    "airport", "harbor", "industrial area", "residential area", "farmland", "forest", "river",
    "parking lot", "stadium", "beach", "desert", "railway station", "freeway", "lake",
)
_PLACES = (
    "along the pier", "in open water", "near the runway", "beside the road", "in the parking lot",
    "next to the river", "on the apron", "at the edge of the image", "in the centre", "near the dock",
)
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _plural(label: str) -> str:
    return label if label.endswith("s") else label + "s"


def _box(rng: random.Random, size: int) -> str:
    x1, y1 = rng.randrange(0, size - 8), rng.randrange(0, size - 8)
    x2 = rng.randrange(x1 + 4, min(size, x1 + size // 3) + 1)
    y2 = rng.randrange(y1 + 4, min(size, y1 + size // 3) + 1)
    return f"[{x1},{y1},{x2},{y2}]"


def _sample(rng: random.Random, size: int) -> str:
    """One prompt + Geo-CoT trace, in the canonical format the parser reads."""
    task = rng.choice(("count", "detect", "ground", "classify", "vqa", "caption"))
    label = rng.choice(_CLASSES)
    n = rng.randint(0, 4)
    boxes = [_box(rng, size) for _ in range(n)]
    grounding = "\n".join(
        f"{i + 1}. {label} {b}: a {label} {rng.choice(_PLACES)}." for i, b in enumerate(boxes)
    )
    if task == "count":
        q = f"How many {_plural(label)} are in the image?"
        plan = f"The question asks how many {_plural(label)} are in the image. I will locate each {label}."
        synth = f"I grounded {n} {_plural(label)}, so the answer is {n}."
        answer = str(n) if rng.random() < 0.8 else _NUMBER_WORDS[n]
    elif task == "detect":
        q = f"Detect every {label} in the image and give its box."
        plan = f"The task is to find all {_plural(label)}. I will scan the image and box each one."
        synth = f"I found {n} {_plural(label)}."
        answer = f"{label}: [" + ",".join(boxes) + "]" if rng.random() < 0.3 else "[" + ",".join(boxes) + "]"
    elif task == "ground":
        boxes = boxes[:1] or [_box(rng, size)]
        place = rng.choice(_PLACES)
        q = f"Where is the {label} {place}? Answer with its box."
        plan = f"I need the one {label} {place}."
        grounding = f"I see a {label} at {boxes[0]} {place}."
        synth = "That object matches the description."
        answer = boxes[0]
    elif task == "classify":
        scene = rng.choice(_SCENES)
        q = "Which scene class does this image belong to?"
        plan = "I will look at the main objects and the land cover."
        grounding = grounding or f"- {label} {_box(rng, size)}: a typical object of a {scene}."
        synth = f"These objects are typical of a {scene}."
        answer = scene
    elif task == "vqa":
        q = f"Is there a {label} in the image?"
        plan = f"I will look for any {label}."
        synth = f"I {'found' if n else 'did not find'} a {label}."
        answer = "yes" if n else "no"
    else:
        scene = rng.choice(_SCENES)
        q = "Describe the image in one sentence."
        plan = "I will name the scene and its main objects."
        synth = f"The image shows a {scene} with {n} {_plural(label)}."
        answer = f"A {scene} with {_NUMBER_WORDS[n]} {_plural(label)} {rng.choice(_PLACES)}."
    return (
        f"{q}\n<think>Planning: {plan}\nGrounding:\n{grounding}\nSynthesis: {synth}</think>\n"
        f"<answer>{answer}</answer>"
    )


def tiny_corpus(*, seed: int = 0, samples: int = 400, image_size: int = 64) -> list[str]:
    """A deterministic corpus of Geo-CoT-like prompts and traces for training the tiny tokenizer.

    >>> tiny_corpus(seed=1, samples=2) == tiny_corpus(seed=1, samples=2)
    True
    """
    rng = random.Random(seed)
    size = max(image_size, 32)
    lines = [_sample(rng, size) for _ in range(samples)]
    # Numbers and punctuation as boxes and answers write them, so the tokenizer has them all.
    lines.append(" ".join(str(v) for v in range(0, 1001)))
    lines.append("[ ] [[ ]] , . : ; ( ) - ? ! ' \" / % + = _ 0.5 0.25 0.125 [0.1,0.2,0.3,0.4]")
    return lines


def _check(name: str, value: int, *, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ConfigError(f"{name} ({value}) must be an integer >= {minimum}")
    return int(value)


def _mrope_section(freqs: int) -> list[int]:
    """Split the text rotary frequencies over (time, height, width) as GLM-4.1V does ([8, 12, 12] of 32)."""
    t = max(1, freqs // 4)
    h = (freqs - t) // 2
    return [t, h, freqs - t - h]


def _rotary_freqs(head_dim: int, fraction: float, spatial: bool) -> int:
    """Rotary frequencies a head gets when ``fraction`` of its dimensions rotate; ConfigError if that does not fit."""
    dims = head_dim * fraction
    need = 2 if spatial else 3  # (rows, columns), or GLM-4.1V's (time, rows, columns)
    if not 0 < fraction <= 1 or abs(dims - round(dims)) > 1e-9 or round(dims) % 2 or round(dims) // 2 < need:
        ok = [f"{d / head_dim:g}" for d in range(2 * need, head_dim + 1, 2)]
        raise ConfigError(
            f"rotary_fraction ({fraction:g}) must rotate an even number of at least {2 * need} of the "
            f"{head_dim} dimensions of a head; try one of {', '.join(ok[-4:])}"
        )
    return round(dims) // 2


def _glm_rope(head_dim: int, fraction: float) -> dict:
    """GLM-4.1V's rotary: base 10,000, ``fraction`` of a head rotated in (time, rows, columns) runs, fastest first."""
    return {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "partial_rotary_factor": fraction,
        "mrope_section": _mrope_section(_rotary_freqs(head_dim, fraction, spatial=False)),
    }


def _spatial_rope(head_dim: int, fraction: float = 1.0) -> dict:
    """Rotary settings giving every frequency to image rows and columns: rows the fastest quarter, columns the rest.

    GLM-4.1V's rotary splits frequencies into contiguous (time, height, width) runs, fastest first,
    so columns always get the slowest. Measured on one-object localisation (1,500 steps): rows and
    columns halved, column error 8.6 px; rows a quarter, 6.6 px (mean IoU 0.23 -> 0.31).
    """
    freqs = _rotary_freqs(head_dim, fraction, spatial=True)
    rows = max(1, freqs // 4)
    return {
        "rope_type": "default",
        "rope_theta": 100.0,
        "partial_rotary_factor": fraction,
        "mrope_section": [0, rows, freqs - rows],
    }


def _init_vision_positions(model) -> None:
    """Start the vision position table as a unit-scale 2-D sinusoid: (sin, cos) of the row, then of the column."""
    import math

    import torch

    table = model.model.visual.embeddings.position_embedding.weight
    n, dim = table.shape
    side = math.isqrt(n)
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    rows, cols = rows.reshape(-1, 1).float(), cols.reshape(-1, 1).float()
    quarter = dim // 4
    freqs = torch.exp(-math.log(100.0) * torch.arange(quarter, dtype=torch.float32) / quarter)[None, :]
    code = torch.zeros(n, dim)
    code[:, :4 * quarter] = torch.cat(
        [torch.sin(rows * freqs), torch.cos(rows * freqs), torch.sin(cols * freqs), torch.cos(cols * freqs)], 1
    )
    with torch.no_grad():
        table.copy_(code.to(table.dtype))


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    box_convention: str = "pixel",
    image_size: int = 64,
    patch_size: int = 8,
    merge_size: int = 2,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    vision_hidden_size: int = 32,
    vision_layers: int = 1,
    vision_heads: int = 2,
    vision_intermediate_size: int = 64,
    vocab_size: int = 640,
    coordinate_tokens: int = 0,
    sinusoidal_coordinates: bool = True,
    spatial_positions: bool = False,
    rotary_fraction: float | None = None,
    max_position_embeddings: int = 4096,
    native_tiling: bool = False,
    corpus: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a tiny random ``Glm4vForConditionalGeneration`` + tokenizer + processor to ``out_dir``.

    image_size: side in pixels the processor resizes inputs towards (larger inputs are shrunk to
    about ``image_size**2`` pixels, aspect kept, sides multiples of ``patch_size * merge_size``).
    hidden_size / num_layers / num_heads / num_kv_heads / intermediate_size: the language model.
    vision_*: the vision tower (its output is projected to ``hidden_size``). vocab_size: target size
    of the trained BPE vocabulary (the corpus may yield fewer). coordinate_tokens: 0 for none, or N
    to give every integer 0..N its own token (``173`` is one token instead of ``1``, ``7``, ``3``;
    the text ``[x1,y1,x2,y2]`` is unchanged; pick N = the largest coordinate the model writes:
    ``image_size`` for pixel boxes, 1000 for norm1000). sinusoidal_coordinates: start the input and
    output embeddings of those tokens as a sinusoidal code of their value, so nearby values start
    near each other. spatial_positions: make where an image patch lies readable from the first step:
    the vision tower's position table starts as a 2-D sinusoid of unit scale (a random start is ~50x
    smaller than the patch features), and the language model's rotary frequencies all go to image rows
    and columns (full rotary, base 100; GLM-4.1V's split leaves a tiny model's columns only frequencies
    too slow to tell 8 patches apart). Text tokens still rotate by their position at every frequency.
    rotary_fraction: the share of each attention head's dimensions the rotary rotates (None: 0.5 as
    GLM-4.1V, 1.0 with ``spatial_positions``); the rest carry no position, so a token can attend to
    content (an object's patch) equally well from any distance.
    native_tiling: record ``"tile": image_size, "overlap": image_size // 2`` in
    ``geocot.json``, so scenes are cut into tiles the model sees at full resolution (see
    :meth:`~geocot_cli.config.TilingOptions.for_model`). corpus: extra lines to train the tokenizer on.
    Returns ``out_dir`` as a :class:`~pathlib.Path`. Raises :class:`~geocot_cli.errors.OutputError`
    if ``out_dir`` is a non-empty folder and ``overwrite`` is False, :class:`ConfigError` for sizes
    that do not fit together.

    Example (not run: takes seconds)::

        path = build_tiny_model("tiny-glm4v", coordinate_tokens=64)
        # AutoProcessor.from_pretrained(path); AutoModelForImageTextToText.from_pretrained(path)
    """
    check_convention(box_convention)
    for name, value in [
        ("image_size", image_size), ("patch_size", patch_size), ("merge_size", merge_size),
        ("hidden_size", hidden_size), ("num_layers", num_layers), ("num_heads", num_heads),
        ("num_kv_heads", num_kv_heads), ("intermediate_size", intermediate_size),
        ("vision_hidden_size", vision_hidden_size), ("vision_layers", vision_layers),
        ("vision_heads", vision_heads), ("vision_intermediate_size", vision_intermediate_size),
        ("vocab_size", vocab_size), ("max_position_embeddings", max_position_embeddings),
    ]:
        _check(name, value)
    _check("coordinate_tokens", coordinate_tokens, minimum=0)
    factor = patch_size * merge_size
    if image_size % factor:
        raise ConfigError(
            f"image_size ({image_size}) must be a multiple of patch_size * merge_size ({factor}); "
            f"try image_size={max(factor, round(image_size / factor) * factor)}"
        )
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ConfigError(
            f"hidden_size ({hidden_size}) must divide into num_heads ({num_heads}) heads, and num_heads "
            f"into num_kv_heads ({num_kv_heads}) groups; try hidden_size=64, num_heads=4, num_kv_heads=2"
        )
    head_dim = hidden_size // num_heads
    if head_dim % 4 or head_dim < 12:
        raise ConfigError(
            f"hidden_size / num_heads ({head_dim}) must be a multiple of 4 and >= 12 (rotary sections); "
            "try fewer heads"
        )
    if rotary_fraction is None:
        rotary_fraction = 1.0 if spatial_positions else 0.5
    # worked out (and checked) before the output folder is touched
    rope = _spatial_rope(head_dim, rotary_fraction) if spatial_positions else _glm_rope(head_dim, rotary_fraction)
    if vision_hidden_size % vision_heads or (vision_hidden_size // vision_heads) % 4:
        raise ConfigError(
            f"vision_hidden_size / vision_heads ({vision_hidden_size}/{vision_heads}) must be a whole "
            "multiple of 4 (2-D rotary); try vision_hidden_size=32, vision_heads=2"
        )

    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputError(f"{out} is not empty; choose an empty folder or pass --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = _build_tokenizer(
        corpus=[*tiny_corpus(seed=seed, image_size=image_size), *(corpus or [])],
        vocab_size=vocab_size,
        coordinate_tokens=coordinate_tokens,
    )
    processor = _build_processor(tokenizer, image_size=image_size, patch_size=patch_size, merge_size=merge_size)
    model = _build_model(
        tokenizer,
        seed=seed,
        image_size=image_size,
        patch_size=patch_size,
        merge_size=merge_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        intermediate_size=intermediate_size,
        vision_hidden_size=vision_hidden_size,
        vision_layers=vision_layers,
        vision_heads=vision_heads,
        vision_intermediate_size=vision_intermediate_size,
        max_position_embeddings=max_position_embeddings,
        rope_parameters=rope,
    )
    if spatial_positions:
        _init_vision_positions(model)
    if coordinate_tokens and sinusoidal_coordinates:
        _init_coordinate_embeddings(model, tokenizer, coordinate_tokens)

    model.save_pretrained(out)
    processor.save_pretrained(out)
    info = {
        "box_convention": box_convention,
        "image_size": image_size,
        "architecture": "Glm4vForConditionalGeneration",
        "coordinate_tokens": coordinate_tokens,
        "sinusoidal_coordinates": bool(coordinate_tokens and sinusoidal_coordinates),
        "spatial_positions": bool(spatial_positions),
        "rotary_fraction": rotary_fraction,
        "seed": seed,
        "trained": False,
    }
    if native_tiling:
        info.update(tile=image_size, overlap=image_size // 2)
    (out / "geocot.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


def _build_tokenizer(*, corpus: list[str], vocab_size: int, coordinate_tokens: int):
    """Train a byte-level BPE on ``corpus`` and wrap it as a transformers fast tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Digits one by one (numbers never merge into arbitrary chunks), then GPT-2 style byte-level.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=max(vocab_size, 256 + len(GLM_SPECIAL_TOKENS)),
        special_tokens=list(GLM_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ANSWER_TAGS])
    if coordinate_tokens:
        tok.add_tokens(
            [AddedToken(str(v), special=False, normalized=False) for v in range(coordinate_tokens + 1)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def _build_processor(tokenizer, *, image_size: int, patch_size: int, merge_size: int):
    """The real Glm4vProcessor, with image and video processors sized for ``image_size`` inputs."""
    from transformers import Glm4vImageProcessor, Glm4vProcessor, Glm4vVideoProcessor

    factor = patch_size * merge_size
    # GLM-4.1V counts pixels over 2 temporal copies of an image: the budgets are doubled.
    size = {"shortest_edge": 2 * factor * factor, "longest_edge": 2 * image_size * image_size}
    common = {"patch_size": patch_size, "merge_size": merge_size, "temporal_patch_size": 2, "size": size}
    return Glm4vProcessor(
        image_processor=Glm4vImageProcessor(**common),
        video_processor=Glm4vVideoProcessor(**common, max_image_size={"longest_edge": size["longest_edge"]}),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


def _build_model(tokenizer, *, seed: int, image_size: int, patch_size: int, merge_size: int, hidden_size: int,
                 num_layers: int, num_heads: int, num_kv_heads: int, intermediate_size: int,
                 vision_hidden_size: int, vision_layers: int, vision_heads: int,
                 vision_intermediate_size: int, max_position_embeddings: int, rope_parameters: dict):
    import torch
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration, GenerationConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in GLM_SPECIAL_TOKENS}
    vocab = -(-len(tokenizer) // 64) * 64  # round up, as real checkpoints do
    eos = [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]
    config = Glm4vConfig(
        text_config={
            "vocab_size": vocab,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": num_heads,
            "num_key_value_heads": num_kv_heads,
            "max_position_embeddings": max_position_embeddings,
            "rope_parameters": rope_parameters,
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": eos,
        },
        vision_config={
            "depth": vision_layers,
            "hidden_size": vision_hidden_size,
            "num_heads": vision_heads,
            "intermediate_size": vision_intermediate_size,
            "out_hidden_size": hidden_size,
            "image_size": image_size,
            "patch_size": patch_size,
            "spatial_merge_size": merge_size,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
    )
    torch.manual_seed(seed)
    model = Glm4vForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=eos,
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
        repetition_penalty=1.1,
        max_new_tokens=256,
    )
    return model


def _init_coordinate_embeddings(model, tokenizer, n: int) -> None:
    """Set the input and output embedding rows of tokens ``0..n`` to a sinusoidal code of the value.

    Rows are scaled to the norm of a randomly initialised row (std ``initializer_range``).
    """
    import math

    import torch

    ids = tokenizer.convert_tokens_to_ids([str(v) for v in range(n + 1)])
    emb = model.get_input_embeddings().weight
    dim = emb.shape[1]
    values = torch.arange(n + 1, dtype=torch.float32)[:, None]
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)[None, :]
    code = torch.zeros(n + 1, dim)
    code[:, 0::2] = torch.sin(values * freqs)
    code[:, 1::2] = torch.cos(values * freqs)[:, : dim // 2]
    std = float(model.config.get_text_config().initializer_range)
    code *= std * math.sqrt(2.0)
    index = torch.tensor(ids, dtype=torch.long)
    with torch.no_grad():
        emb[index] = code.to(emb.dtype)
        head = model.get_output_embeddings()
        if head is not None and head.weight is not emb:
            head.weight[index] = code.to(head.weight.dtype)

