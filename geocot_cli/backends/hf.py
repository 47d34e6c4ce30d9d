"""Run a transformers vision-language model (RSThinker, GLM-4.1V, the tiny demo model) on tiles.

:class:`HFBackend` loads a hub id or a local folder with ``AutoProcessor`` +
``AutoModelForImageTextToText`` (safetensors only; remote code only when asked), renders each
(image, prompt) pair with the model's own chat template, generates in batches with left padding,
greedily by default with repetition penalty 1.1 as the paper's chat script does (or the one the
model's ``geocot.json`` names), and decodes only the new tokens. Special tokens are dropped, but the
text of ``<think>``, ``</think>``, ``<answer>`` and ``</answer>`` is always kept, even where a
tokenizer marks them special.

Torch and transformers are imported inside this module's functions only.

Example (not run: loads a model)::

    backend = HFBackend("minglanga/RSThinker")          # box convention "pixel" from the known-id table
    texts = backend.generate([tile_image], ["How many ships are in the image?"])
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import GenerationOptions
from ..errors import BackendError, ConfigError, ModelNotFoundError
from .base import model_repetition_penalty, resolve_box_convention

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = ["KEEP_TAGS", "HFBackend", "decode_completions", "resolve_device", "resolve_dtype"]

log = logging.getLogger("geocot")

#: Tags whose text survives decoding even when the tokenizer marks them special.
KEEP_TAGS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")

#: Weight files that are Python pickles: never loaded.
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")
_DTYPES = {
    "float32": "float32", "fp32": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16",
}


def _one_line(exc: BaseException, limit: int = 200) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_location(model: str) -> Path | None:
    """Return the local folder of ``model``, None for a hub id; raise for a folder that holds no model."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model folder {model} holds no config.json; pass a folder written by save_pretrained "
                "(config.json, model.safetensors, processor files) or a hub id such as minglanga/RSThinker"
            )
        pickles = sorted(f.name for f in path.iterdir() if f.suffix in _PICKLE_SUFFIXES)
        if pickles and not any(f.suffix == ".safetensors" for f in path.iterdir()):
            raise ModelNotFoundError(
                f"model folder {model} holds only pickle weights ({', '.join(pickles[:3])}), which can run code "
                "when loaded; geocot loads safetensors only: convert them where you trust the file "
                "(model.save_pretrained(folder, safe_serialization=True))"
            )
        return path
    if path.exists():
        raise ModelNotFoundError(
            f"model {model} is a file, not a model folder; pass the folder that holds config.json"
        )
    if not _HUB_ID.match(model):
        raise ModelNotFoundError(
            f"model folder {model} does not exist; check the path, or pass a hub id such as minglanga/RSThinker"
        )
    return None


def _is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's out-of-memory errors (CUDA, and MPS / older torch, which raise a RuntimeError)."""
    import torch

    kinds = tuple(k for k in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if k)
    return isinstance(exc, kinds) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _free_accelerator_memory() -> None:
    """Hand cached blocks back to the device after an out-of-memory error."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        mps.empty_cache()


def resolve_device(device: str = "auto") -> str:
    """Return a torch device string: ``auto`` picks cuda, then mps, then cpu.

    Raises :class:`BackendError` for a device this machine lacks.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendError(f"device {device!r} is not available (no CUDA GPU found); pass --device cpu or auto")
        return device
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise BackendError("device 'mps' is not available on this machine; pass --device cpu or auto")
        return device
    if device == "cpu":
        return device
    raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """Return a torch dtype: ``auto`` is bfloat16 on a CUDA device that supports it, else float32."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return getattr(torch, _DTYPES[dtype])


def _kept_and_dropped(tokenizer: Any) -> set[int]:
    """Ids to drop when decoding: special tokens, minus the Geo-CoT tags."""
    drop = set(int(i) for i in getattr(tokenizer, "all_special_ids", []) or [])
    for idx, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            drop.add(int(idx))
    vocab = tokenizer.get_vocab()
    keep = {vocab[t] for t in KEEP_TAGS if t in vocab}
    return drop - keep


def decode_completions(
    tokenizer: Any,
    rows: Iterable[Sequence[int]],
    eos_ids: Iterable[int] = (),
    drop_ids: set[int] | None = None,
) -> list[str]:
    """Decode generated token rows: cut each at its first ``eos_ids`` token, drop special tokens, keep tags.

    ``drop_ids`` defaults to every special token id of ``tokenizer`` except those of :data:`KEEP_TAGS`.
    """
    drop = _kept_and_dropped(tokenizer) if drop_ids is None else drop_ids
    eos = set(int(i) for i in eos_ids)
    out = []
    for row in rows:
        ids: list[int] = []
        for i in (int(v) for v in row):
            if i in eos:
                break
            if i not in drop:
                ids.append(i)
        out.append(tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False))
    return out


class HFBackend:
    """A transformers image-text-to-text model as a geocot backend.

    model: a hub id (``minglanga/RSThinker``) or a local folder written by ``save_pretrained``.
    device: ``auto`` (cuda, else mps, else cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    dtype: ``auto`` (bfloat16 on a CUDA GPU that supports it, else float32), ``float32``,
    ``bfloat16`` or ``float16``. generation: decoding options (greedy, the repetition penalty of
    :func:`~geocot_cli.backends.base.model_repetition_penalty`,
    ``max_new_tokens``, ``batch_size`` tiles per forward pass). box_convention: overrides
    ``geocot.json`` and the known-id table (see :func:`~geocot_cli.backends.base.resolve_box_convention`).
    trust_remote_code: run the model repository's own Python code (only for models that need it).

    Raises :class:`~geocot_cli.errors.ModelNotFoundError` for a folder that does not exist or holds
    no model and for a hub id that cannot be fetched (offline, misspelt, gated), and
    :class:`~geocot_cli.errors.BackendError` for a model transformers cannot load.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        generation: GenerationOptions = GenerationOptions(),
        box_convention: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.model_id = str(model)
        self.local_path = _check_location(self.model_id)
        self.box_convention = resolve_box_convention(self.model_id, box_convention)
        self.name = f"hf:{self.model_id}"
        self.generation = generation
        self.repetition_penalty = model_repetition_penalty(self.model_id, generation.repetition_penalty)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.processor, self.model = self._load(trust_remote_code)
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._drop_ids = _kept_and_dropped(tokenizer)
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        if eos is None:
            eos = []
        self._eos_ids: tuple[int, ...] = tuple(int(i) for i in (eos if isinstance(eos, (list, tuple)) else [eos]))
        self._batch_limit: int | None = None  # lowered after an out-of-memory error

    def _load(self, trust_remote_code: bool):
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # geocot shows its own progress on stderr

        source = str(self.local_path) if self.local_path is not None else self.model_id
        where = f"folder {source}" if self.local_path else f"{self.model_id} from the Hugging Face hub"
        try:
            processor = AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code)
            model = AutoModelForImageTextToText.from_pretrained(
                source,
                dtype=self.dtype,
                device_map=self.device,
                use_safetensors=True,
                trust_remote_code=trust_remote_code,
            )
        except OSError as exc:
            hint = (
                f"check the id, download it while online (hf download {self.model_id}) or pass a local folder; "
                "geocot loads safetensors weights only"
                if self.local_path is None
                else "the folder must hold config.json, model.safetensors and the processor files"
            )
            raise ModelNotFoundError(f"cannot load model {where}: {_one_line(exc).rstrip('.')}; {hint}") from None
        except (ValueError, KeyError, ImportError, RuntimeError) as exc:
            if "out of memory" in str(exc).lower():
                raise BackendError(
                    f"not enough memory to load model {self.model_id} on {self.device}: {_one_line(exc)}; "
                    "try --dtype bfloat16, a smaller model, or another --device"
                ) from None
            raise BackendError(
                f"transformers cannot load model {self.model_id} as an image-text-to-text model: "
                f"{_one_line(exc)}; check the model id, or pass --trust-remote-code if its card asks for it"
            ) from None
        if getattr(processor, "tokenizer", None) is None:
            raise BackendError(f"model {self.model_id} has a processor without a tokenizer; it cannot answer in text")
        if not getattr(processor, "chat_template", None):
            raise BackendError(
                f"model {self.model_id} has no chat template; add chat_template.jinja to the model folder"
            )
        model.eval()
        return processor, model

    def _generation_config(self):
        opts = self.generation
        cfg = copy.deepcopy(self.model.generation_config)
        cfg.max_new_tokens = opts.max_new_tokens
        cfg.repetition_penalty = self.repetition_penalty
        cfg.do_sample = opts.do_sample
        if opts.do_sample:
            cfg.temperature, cfg.top_p = opts.temperature, opts.top_p
        else:
            cfg.temperature = cfg.top_p = cfg.top_k = None
        cfg.num_beams = 1
        cfg.pad_token_id = self.processor.tokenizer.pad_token_id
        return cfg

    def _messages(self, prompt: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]

    def generate(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[str]:
        """Return one completion per image (only the new text; tags kept), in order.

        Out of accelerator memory, the batch is halved and retried (down to one tile; then a
        :class:`BackendError`); the smaller batch is kept for later calls, so one OOM costs one retry.
        """
        if len(images) != len(prompts):
            raise BackendError(f"got {len(images)} images but {len(prompts)} prompts; pass one prompt per image")
        out: list[str] = []
        start = 0
        while start < len(images):
            size = min(self.generation.batch_size, self._batch_limit or len(images), len(images) - start)
            failed = None
            try:
                out.extend(self._generate_batch(images[start : start + size], prompts[start : start + size]))
            except Exception as exc:
                if not _is_out_of_memory(exc):
                    raise
                failed = _one_line(exc)  # keep no reference: the traceback holds the batch's tensors
            if failed is None:
                start += size
                continue
            _free_accelerator_memory()
            if size == 1:
                raise BackendError(
                    f"out of memory on {self.device} even with one tile per batch ({failed}); try "
                    "--dtype bfloat16, a smaller --tile, fewer --max-new-tokens, or another --device"
                )
            self._batch_limit = size // 2
            log.warning("out of memory on %s with %d tiles per batch; retrying with %d", self.device, size, size // 2)
        return out

    def _generate_batch(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[str]:
        import torch

        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        texts = self.processor.apply_chat_template(
            [self._messages(p) for p in prompts], add_generation_prompt=True, tokenize=False
        )
        inputs = self.processor(
            text=list(texts), images=rgb, padding=True, add_special_tokens=False, return_tensors="pt"
        )
        inputs.pop("token_type_ids", None)
        inputs = inputs.to(self.model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            sequences = self.model.generate(**inputs, generation_config=self._generation_config())
        new = sequences[:, inputs["input_ids"].shape[1] :].tolist()
        return decode_completions(self.processor.tokenizer, new, self._eos_ids, self._drop_ids)

    def __repr__(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        return (
            f"HFBackend({self.model_id!r}, device={self.device!r}, dtype={dtype!r}, "
            f"box_convention={self.box_convention!r})"
        )
