"""Model backends: the one seam between geocot and a vision-language model.

``hf`` runs a transformers model locally (:class:`~geocot_cli.backends.hf.HFBackend`), ``openai``
talks to an OpenAI-compatible server, and :class:`ScriptedBackend` answers from a function for
exact tests. Importing this package imports no torch or transformers: heavy backends load lazily.

>>> backend = load_backend(None, backend="scripted", responder=["<answer>3</answer>"])
>>> backend.name, backend.box_convention
('scripted', 'pixel')
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import GEOCOT_JSON, KNOWN_BOX_CONVENTIONS, Backend, read_geocot_json, resolve_box_convention
from .scripted import ScriptedBackend

__all__ = [
    "BACKENDS",
    "GEOCOT_JSON",
    "KNOWN_BOX_CONVENTIONS",
    "Backend",
    "HFBackend",
    "ScriptedBackend",
    "load_backend",
    "read_geocot_json",
    "resolve_box_convention",
]

#: Names accepted by :func:`load_backend` (and ``--backend``).
BACKENDS: tuple[str, ...] = ("hf", "openai", "scripted")


def load_backend(model: str | None, backend: str = "hf", **kw: Any) -> Backend:
    """Build the backend named ``backend`` for ``model``; ``kw`` go to its constructor.

    ``hf``: :class:`~geocot_cli.backends.hf.HFBackend` (``device``, ``dtype``, ``generation``,
    ``box_convention``, ``trust_remote_code``). ``openai``: ``OpenAIBackend`` from
    ``geocot_cli.backends.openai`` (``base_url`` required; ``model`` is the served model name).
    ``scripted``: :class:`ScriptedBackend` (``responder``, ``box_convention``; ``model`` is ignored).

    >>> load_backend("m", backend="onnx")
    Traceback (most recent call last):
    ...
    geocot_cli.errors.ConfigError: unknown backend 'onnx'; use one of hf, openai, scripted
    """
    if backend == "hf":
        if not model:
            raise ConfigError("the hf backend needs a model: pass --model minglanga/RSThinker or a model folder")
        from .hf import HFBackend

        return HFBackend(model, **kw)
    if backend == "openai":
        if "base_url" not in kw:
            raise ConfigError("the openai backend needs a server: pass --base-url http://localhost:8000/v1")
        if not model:
            raise ConfigError("the openai backend needs the served model name: pass --model NAME")
        from .openai import OpenAIBackend

        return OpenAIBackend(model=model, **kw)
    if backend == "scripted":
        return ScriptedBackend(**kw)
    raise ConfigError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")


def __getattr__(name: str) -> Any:
    """Import :class:`HFBackend` on first use, so ``import geocot_cli.backends`` stays light."""
    if name == "HFBackend":
        from .hf import HFBackend

        return HFBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
