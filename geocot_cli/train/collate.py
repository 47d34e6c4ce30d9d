"""Model inputs for training, built exactly as :class:`~geocot_cli.backends.hf.HFBackend` builds them.

The prompt goes through ``processor.apply_chat_template`` with the same messages the backend sends
(one image, then the prompt text) and ``add_generation_prompt=True``; the processor expands the image
placeholder into the model's image tokens. For SFT the assistant turn (the Geo-CoT trace and an end
token) is tokenized on its own and appended, so a trained model sees at inference exactly the tokens
it was trained on. Labels are ``-100`` on every prompt, image and padding token: the loss is the
next-token loss on the assistant turn only.

Torch is imported inside the functions.

>>> chat_messages("How many ships?")[0]["content"][0]
{'type': 'image'}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = [
    "IGNORE_INDEX",
    "chat_messages",
    "collate_sft",
    "encode_prompts",
    "encode_sft",
    "end_of_turn",
    "render_prompt",
]

#: Label value the loss ignores (prompt, image and padding tokens).
IGNORE_INDEX = -100

#: Per-token tensors the processor returns besides ``input_ids`` (extended with zeros for the answer).
_TOKEN_KEYS = ("attention_mask", "mm_token_type_ids")


def chat_messages(prompt: str) -> list[dict[str, Any]]:
    """The user turn for one image and ``prompt``: the same messages the transformers backend sends."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]


def render_prompt(processor: Any, prompt: str) -> str:
    """The chat-template text of one prompt, ending with the assistant header the model continues from."""
    text = processor.apply_chat_template([chat_messages(prompt)], add_generation_prompt=True, tokenize=False)
    return text[0] if isinstance(text, list) else text


def end_of_turn(processor: Any) -> str:
    """The token text that ends an assistant turn (the tokenizer's end-of-sequence token)."""
    eos = processor.tokenizer.eos_token
    if not eos:
        from ..errors import BackendError

        raise BackendError("the model's tokenizer has no eos_token; it cannot learn where an answer ends")
    return eos


def encode_sft(processor: Any, image: Image.Image, prompt: str, completion: str, *,
               max_length: int | None = None, box_weight: float = 1.0) -> dict[str, Any]:
    """One training example: prompt + image tokens (labels -100), then the completion and end token.

    Returns 1-D ``input_ids``, ``labels`` and the processor's other per-token tensors, plus
    ``pixel_values`` (patches x features) and ``image_grid_thw`` (1 x 3), and ``truncated``. With
    ``box_weight`` other than 1 it also returns ``loss_weights``: ``box_weight`` on every completion token
    that overlaps a box ``[a, b, c, d]`` (:func:`~geocot_cli.trace.box_spans`), 1 elsewhere.
    """
    import torch

    text = render_prompt(processor, prompt)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    enc = processor(text=[text], images=[rgb], add_special_tokens=False, return_tensors="pt")
    answer, weights = _encode_completion(processor, completion, box_weight)
    answer_ids = torch.tensor(answer, dtype=torch.long)
    prompt_ids = enc["input_ids"][0]
    out: dict[str, Any] = {
        "input_ids": torch.cat([prompt_ids, answer_ids]),
        "labels": torch.cat([torch.full_like(prompt_ids, IGNORE_INDEX), answer_ids]),
    }
    if weights is not None:
        out["loss_weights"] = torch.cat([torch.ones(prompt_ids.numel()), torch.tensor(weights)])
    for key in _TOKEN_KEYS:
        if key in enc:
            fill = 1 if key == "attention_mask" else 0
            out[key] = torch.cat([enc[key][0], torch.full_like(answer_ids, fill)])
    truncated = False
    if max_length is not None and out["input_ids"].numel() > max_length:
        if prompt_ids.numel() >= max_length:
            from ..errors import DataError

            raise DataError(f"the prompt and image take {prompt_ids.numel()} tokens, more than max_length "
                            f"({max_length}); raise --max-length")
        for key in ("input_ids", "labels", "loss_weights", *_TOKEN_KEYS):
            if key in out:
                out[key] = out[key][:max_length]
        truncated = True
    for key, value in enc.items():  # image tensors; token_type_ids is dropped, as the backend drops it
        if key not in out and key not in ("input_ids", "token_type_ids", *_TOKEN_KEYS):
            out[key] = value
    out["truncated"] = truncated
    return out


def _encode_completion(processor: Any, completion: str, box_weight: float) -> tuple[list[int], list[float] | None]:
    """The completion's token ids (with the end token) and, unless ``box_weight`` is 1, a weight per token."""
    tokenizer = processor.tokenizer
    text = completion + end_of_turn(processor)
    if box_weight == 1.0:
        return tokenizer(text, add_special_tokens=False)["input_ids"], None
    if not getattr(tokenizer, "is_fast", False):
        from ..errors import ConfigError

        raise ConfigError("--box-loss-weight needs a fast (Rust) tokenizer to find the box tokens; this model's "
                          "tokenizer is a slow one: leave --box-loss-weight at 1")
    from ..trace import box_spans

    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans = box_spans(completion)  # in order and disjoint; token offsets only move forward: one sweep
    weights, k = [], 0
    for a, b in enc["offset_mapping"]:
        while k < len(spans) and spans[k][1] <= a:
            k += 1
        weights.append(box_weight if a < b and k < len(spans) and spans[k][0] < b else 1.0)
    return enc["input_ids"], weights


def collate_sft(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-pad a list of :func:`encode_sft` examples into one batch (labels -100 on padding).

    Image tensors are concatenated along the patch axis, as the processor does for a batch.
    """
    import torch

    longest = max(int(e["input_ids"].numel()) for e in examples)
    batch: dict[str, Any] = {}
    pads = {"input_ids": pad_id, "labels": IGNORE_INDEX, "attention_mask": 0, "mm_token_type_ids": 0,
            "loss_weights": 0.0}
    for key, pad in pads.items():
        if key not in examples[0]:
            continue
        rows = []
        for e in examples:
            t = e[key]
            rows.append(torch.cat([t, torch.full((longest - t.numel(),), pad, dtype=t.dtype)]))
        batch[key] = torch.stack(rows)
    for key in examples[0]:
        if key in pads or key == "truncated":
            continue
        batch[key] = torch.cat([e[key] for e in examples])
    batch["truncated"] = sum(bool(e.get("truncated")) for e in examples)
    return batch


def encode_prompts(processor: Any, images: Sequence[Image.Image], prompts: Sequence[str]) -> dict[str, Any]:
    """A left-padded generation batch, exactly as :class:`~geocot_cli.backends.hf.HFBackend` builds it."""
    tokenizer = processor.tokenizer
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        texts = [render_prompt(processor, p) for p in prompts]
        enc = processor(text=texts, images=rgb, padding=True, add_special_tokens=False, return_tensors="pt")
    finally:
        tokenizer.padding_side = side
    enc.pop("token_type_ids", None)
    return dict(enc)
