"""Frozen option objects, one per job, checked once when built.

The same names are CLI flags (``--tile``), recipe keys (``tile:``) and Python arguments.

>>> TilingOptions(tile=800, overlap=160).stride
640
>>> TilingOptions(tile=100, overlap=100)
Traceback (most recent call last):
...
geocot_cli.errors.TilingError: overlap (100) must be smaller than tile (100); try --overlap 20
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .boxes import check_convention
from .errors import ConfigError, TilingError

__all__ = ["BackendOptions", "GenerationOptions", "OutputOptions", "TilingOptions"]


@dataclass(frozen=True)
class TilingOptions:
    """How a scene is cut into model-sized tiles.

    tile: side of a square tile in scene pixels. overlap: pixels shared by neighbouring tiles, so
    an object cut by one tile's edge is whole in its neighbour. bands: 1-based band indexes to feed
    as RGB (None: first three, or the only one). min_valid: tiles with a smaller fraction of valid
    (not nodata / masked) pixels are skipped without calling the model.
    """

    tile: int = 800
    overlap: int = 160
    bands: tuple[int, ...] | None = None
    min_valid: float = 0.05

    def __post_init__(self) -> None:
        if self.tile <= 0:
            raise TilingError(f"tile ({self.tile}) must be a positive number of pixels; try --tile 800")
        if self.overlap < 0:
            raise TilingError(f"overlap ({self.overlap}) must be >= 0; try --overlap 160")
        if self.overlap >= self.tile:
            raise TilingError(
                f"overlap ({self.overlap}) must be smaller than tile ({self.tile}); "
                f"try --overlap {self.tile // 5}"
            )
        if self.bands is not None:
            if len(self.bands) not in (1, 3) or any(b < 1 for b in self.bands):
                raise ConfigError(
                    f"bands {','.join(map(str, self.bands))} must be one or three 1-based band "
                    "indexes, e.g. --bands 1,2,3 or --bands 4"
                )
        if not 0.0 <= self.min_valid <= 1.0:
            raise ConfigError(f"min_valid ({self.min_valid}) must be between 0 and 1")

    @property
    def stride(self) -> int:
        """Distance between the origins of neighbouring tiles."""
        return self.tile - self.overlap

    @classmethod
    def for_model(
        cls,
        info: Mapping[str, Any] | None,
        *,
        tile: int | None = None,
        overlap: int | None = None,
        bands: tuple[int, ...] | None = None,
        min_valid: float = 0.05,
    ) -> TilingOptions:
        """The tiling a model asks for, with what the user gave taking precedence.

        ``info`` is the model's ``geocot.json`` (may be empty): a model trained on small images
        says so with ``"tile"`` and ``"overlap"`` (the bundled demo model sees 64 px tiles at full
        resolution; an 800 px tile shrunk to 64 px would leave its objects a few pixels wide).
        Without them: 800 / 160. An explicit ``tile`` without ``overlap`` overlaps by a fifth.

        >>> TilingOptions.for_model({"tile": 64, "overlap": 16})
        TilingOptions(tile=64, overlap=16, bands=None, min_valid=0.05)
        >>> TilingOptions.for_model({"tile": 64, "overlap": 16}, tile=400).overlap
        80
        >>> TilingOptions.for_model({}).tile
        800
        """
        info = info or {}
        default_tile = int(info.get("tile") or cls.tile)
        if tile is None:
            tile = default_tile
        if overlap is None:
            if tile == default_tile and info.get("overlap") is not None:
                overlap = int(info["overlap"])
            else:
                overlap = tile // 5
        return cls(tile=tile, overlap=overlap, bands=bands, min_valid=min_valid)


#: The repetition penalty the paper's chat script decodes RSThinker with; used for any model whose
#: ``geocot.json`` does not name its own.
PAPER_REPETITION_PENALTY = 1.1


@dataclass(frozen=True)
class GenerationOptions:
    """How the model decodes: greedy by default, as the paper's chat script does.

    repetition_penalty: ``None`` takes the model's own (the ``repetition_penalty`` key of its
    ``geocot.json``, the value it was trained and aligned to decode with), else
    :data:`PAPER_REPETITION_PENALTY`, the paper's chat script's 1.1.
    """

    max_new_tokens: int = 1024
    repetition_penalty: float | None = None
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.max_new_tokens <= 0:
            raise ConfigError(f"max_new_tokens ({self.max_new_tokens}) must be > 0")
        if self.repetition_penalty is not None and not self.repetition_penalty > 0:
            raise ConfigError(f"repetition_penalty ({self.repetition_penalty}) must be > 0")
        if self.batch_size <= 0:
            raise ConfigError(f"batch_size ({self.batch_size}) must be > 0; try --batch-size 4")
        if self.temperature <= 0:
            raise ConfigError(f"temperature ({self.temperature}) must be > 0")


@dataclass(frozen=True)
class OutputOptions:
    """Where and how results are written."""

    overwrite: bool = False
    nms_iou: float = 0.5
    box_convention: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(f"nms_iou ({self.nms_iou}) must be in (0, 1]")
        if self.box_convention is not None:
            check_convention(self.box_convention)


@dataclass(frozen=True)
class BackendOptions:
    """Which model answers, and how it is reached.

    backend: ``hf`` (transformers, in this process) or ``openai`` (an OpenAI-compatible server).
    model: a folder or hub id (hf), or the served model's name (openai); None = bundled demo model.
    """

    model: str | None = None
    backend: str = "hf"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    box_convention: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    generation: GenerationOptions = GenerationOptions()

    def __post_init__(self) -> None:
        if self.backend not in ("hf", "openai"):
            raise ConfigError(f"unknown backend {self.backend!r}; use hf or openai")
        if self.backend == "openai" and not self.base_url:
            raise ConfigError("--backend openai needs --base-url, e.g. http://localhost:8000/v1")
        if self.concurrency <= 0:
            raise ConfigError(f"concurrency ({self.concurrency}) must be > 0")
        if self.box_convention is not None:
            check_convention(self.box_convention)
