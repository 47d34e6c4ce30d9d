"""The bundled demo model: where it lives and what happens when it is not there."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

__all__ = ["DEMO_MODEL_DIR", "DEMO_NOTE", "default_model", "is_demo_model", "resolve_model"]

#: Where the package keeps its bundled demo model (a folder saved with ``save_pretrained``).
DEMO_MODEL_DIR = Path(__file__).resolve().parents[1] / "assets" / "demo-model"

#: Said on stderr whenever the bundled demo model answers.
DEMO_NOTE = (
    "running the bundled demo model: a 1.2M-parameter model trained on synthetic 64 px scenes, there to "
    "show the workflow; its answers on real imagery mean nothing. Pass a real model with --model "
    "(a folder or hub id, e.g. --model minglanga/RSThinker)"
)


def is_demo_model(path) -> bool:
    """True when ``path`` is the bundled demo model's folder.

    >>> is_demo_model(DEMO_MODEL_DIR), is_demo_model("minglanga/RSThinker")
    (True, False)
    """
    try:
        return Path(path).expanduser().resolve() == DEMO_MODEL_DIR
    except (OSError, RuntimeError, TypeError):
        return False


def default_model() -> str:
    """The bundled demo model's folder, or a ConfigError that says what to pass instead."""
    if (DEMO_MODEL_DIR / "config.json").is_file():
        return str(DEMO_MODEL_DIR)
    raise ConfigError(
        "no --model given and no bundled demo model is installed; pass --model with a model folder "
        "or hub id (e.g. build a tiny test model with `geocot model tiny ./tiny-model`, then "
        "--model ./tiny-model)"
    )


def resolve_model(model: str | None, backend: str = "hf") -> str:
    """``model`` as given, or the bundled demo model when it is omitted (transformers backend only)."""
    if model:
        return model
    if backend != "hf":
        raise ConfigError(f"--model is required with --backend {backend} (the served model's name)")
    return default_model()
