"""What every model backend offers, and which box convention a model writes.

A backend turns a batch of images (tiles as fed) and prompts into raw model text, one string per
image. The pipeline never needs to know whether the text came from a local transformers model, an
OpenAI-compatible server or a scripted function.

The box convention (how a model writes ``[x1,y1,x2,y2]``: pixels of the image as fed, or 0-1000,
0-100, 0-1 normalised) is a per-model fact. :func:`resolve_box_convention` finds it, in order: the
explicit ``--box-convention`` flag, the ``box_convention`` key of ``<model folder>/geocot.json``, the
table of known hub ids :data:`KNOWN_BOX_CONVENTIONS`; otherwise it refuses to guess.

>>> resolve_box_convention("minglanga/RSThinker", None)
'pixel'
>>> resolve_box_convention("minglanga/RSThinker", "norm1000")
'norm1000'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..boxes import check_convention
from ..errors import BackendError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "GEOCOT_JSON",
    "KNOWN_BOX_CONVENTIONS",
    "Backend",
    "read_geocot_json",
    "resolve_box_convention",
]

#: Name of the file, next to a model's ``config.json``, where geocot keeps what it must know about
#: the model (``box_convention``, ``image_size``, ``architecture``).
GEOCOT_JSON = "geocot.json"

#: Box conventions of published models, keyed by lower-case hub id.
#:
#: - ``minglanga/RSThinker`` (the paper's model): pixels of the image as fed; the authors'
#:   evaluator reads its boxes as pixels of the (800x800) input.
#: - GLM-4.1V / GLM-4.5V (``zai-org``, formerly ``THUDM``): their own grounding writes 0-1000.
#: - Qwen3-VL: 0-1000.
#:
#: Qwen2.5-VL is left out on purpose: it writes pixels of *its own resized* input, which equal the
#: pixels of the image as fed only when the processor did not resize; pass ``--box-convention``.
KNOWN_BOX_CONVENTIONS: Mapping[str, str] = {
    "minglanga/rsthinker": "pixel",
    "zai-org/glm-4.1v-9b-thinking": "norm1000",
    "zai-org/glm-4.1v-9b-base": "norm1000",
    "thudm/glm-4.1v-9b-thinking": "norm1000",
    "thudm/glm-4.1v-9b-base": "norm1000",
    "zai-org/glm-4.5v": "norm1000",
    "qwen/qwen3-vl-2b-instruct": "norm1000",
    "qwen/qwen3-vl-4b-instruct": "norm1000",
    "qwen/qwen3-vl-8b-instruct": "norm1000",
    "qwen/qwen3-vl-32b-instruct": "norm1000",
}


@runtime_checkable
class Backend(Protocol):
    """A model that answers prompts about images.

    ``name``: a short label for logs and outputs (``"hf:minglanga/RSThinker"``). ``box_convention``:
    how its boxes are written (one of :data:`geocot_cli.types.BOX_CONVENTIONS`). ``generate``: one
    raw completion per (image, prompt) pair, in order; images are RGB tiles as fed, and boxes in the
    text refer to their pixels (in ``box_convention``).

    >>> from geocot_cli.backends.scripted import ScriptedBackend
    >>> isinstance(ScriptedBackend(["<answer>0</answer>"]), Backend)
    True
    """

    name: str
    box_convention: str

    def generate(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[str]:
        """Return one completion per image, in order."""
        ...


def _local_folder(model: str) -> Path | None:
    path = Path(model).expanduser()
    return path if path.is_dir() else None


def read_geocot_json(model: str | Path) -> dict[str, Any]:
    """Return the contents of ``<model>/geocot.json``, or ``{}`` when ``model`` is not a folder or has none.

    Raises :class:`BackendError` when the file exists but is not a JSON object.

    >>> read_geocot_json("minglanga/RSThinker")
    {}
    """
    folder = _local_folder(str(model))
    if folder is None or not (folder / GEOCOT_JSON).is_file():
        return {}
    path = folder / GEOCOT_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot read {path}: {exc}; fix or delete the file") from None
    if not isinstance(data, dict):
        raise BackendError(f"{path} must hold a JSON object such as {{\"box_convention\": \"pixel\"}}")
    return data


def model_repetition_penalty(model: str | Path | None, given: float | None = None) -> float:
    """The repetition penalty to decode ``model`` with: ``given`` > ``geocot.json`` > the paper's 1.1.

    A model aligned by GRPO samples without a penalty, and its answers repeat the boxes and the
    conclusion of its trace, so a small model can name its own (the bundled one says 1.0).
    Raises :class:`BackendError` when ``geocot.json`` names a value that is not a number > 0.

    >>> model_repetition_penalty("minglanga/RSThinker")
    1.1
    >>> model_repetition_penalty("minglanga/RSThinker", 1.0)
    1.0
    """
    from ..config import PAPER_REPETITION_PENALTY

    if given is not None:
        return float(given)
    if model is None:
        return PAPER_REPETITION_PENALTY
    value = read_geocot_json(model).get("repetition_penalty", PAPER_REPETITION_PENALTY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise BackendError(
            f"{Path(model) / GEOCOT_JSON}: repetition_penalty must be a number > 0 such as 1.1, not {value!r}"
        )
    return float(value)


def resolve_box_convention(model: str | Path | None, flag: str | None) -> str:
    """Return the box convention of ``model``: ``flag`` > ``geocot.json`` > known hub ids.

    Raises :class:`~geocot_cli.errors.ConfigError` for an unknown ``flag`` value, and
    :class:`BackendError` when none of the three sources knows the answer.

    >>> resolve_box_convention("someone/unknown-vlm", "norm100")
    'norm100'
    >>> resolve_box_convention("someone/unknown-vlm", None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geocot_cli.errors.BackendError: the box convention of model 'someone/unknown-vlm' is unknown; pass ...
    """
    if flag is not None:
        return check_convention(flag)
    name = "" if model is None else str(model)
    info = read_geocot_json(name) if name else {}
    if "box_convention" in info:
        value = info["box_convention"]
        if not isinstance(value, str):
            raise BackendError(
                f"{Path(name) / GEOCOT_JSON}: box_convention must be a string such as \"pixel\", got {value!r}"
            )
        return check_convention(value)
    known = KNOWN_BOX_CONVENTIONS.get(name.strip().strip("/").lower())
    if known is not None:
        return known
    raise BackendError(
        f"the box convention of model {name!r} is unknown; pass --box-convention "
        "pixel|norm1000|norm100|norm1 (how the model writes [x1,y1,x2,y2]: pixels of the image as fed, "
        "or normalised to 0-1000, 0-100 or 0-1)"
    )
