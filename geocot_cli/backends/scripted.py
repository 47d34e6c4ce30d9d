"""A backend that answers from a function or a list of canned texts: exact, fast pipeline tests.

Like httpx's ``MockTransport``, it stands in for the real model so tests can assert exact outputs
(counts, coordinates, audits) without loading weights. It records every call it receives.

>>> from PIL import Image
>>> backend = ScriptedBackend(["<answer>1</answer>", "<answer>2</answer>"])
>>> backend.generate([Image.new("RGB", (8, 6))] * 3, ["a", "b", "c"])
['<answer>1</answer>', '<answer>2</answer>', '<answer>1</answer>']
>>> backend.calls[0]
((8, 6), 'a')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..boxes import check_convention
from ..errors import BackendError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["ScriptedBackend"]

Responder = Callable[["Image.Image", str], str]


class ScriptedBackend:
    """Answer each (image, prompt) with ``responder(image, prompt)``, or the next canned text.

    responder: a callable ``(image, prompt) -> str``, or a sequence of strings used in order and
    cycled (a single string answers every call). box_convention: what the scripted boxes mean.
    ``calls``: a list of ``((width, height), prompt)``, one per image, in call order.

    >>> from PIL import Image
    >>> echo = ScriptedBackend(lambda image, prompt: f"{prompt} {image.size[0]}", box_convention="norm1000")
    >>> echo.generate([Image.new("RGB", (4, 4))], ["size"]), echo.box_convention
    (['size 4'], 'norm1000')
    """

    def __init__(self, responder: Responder | Sequence[str] | str, box_convention: str = "pixel") -> None:
        self.box_convention = check_convention(box_convention)
        self.name = "scripted"
        self.calls: list[tuple[tuple[int, int], str]] = []
        if isinstance(responder, str):
            responder = [responder]
        if callable(responder):
            self._responder: Responder | None = responder
            self._canned: tuple[str, ...] = ()
        else:
            canned = tuple(responder)
            if not canned:
                raise ConfigError("ScriptedBackend needs at least one canned response, or a function")
            bad = [c for c in canned if not isinstance(c, str)]
            if bad:
                raise ConfigError(f"canned responses must be strings, got {bad[0]!r}")
            self._responder = None
            self._canned = canned
        self._next = 0

    def generate(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[str]:
        """Return one scripted completion per image, recording each call in :attr:`calls`."""
        if len(images) != len(prompts):
            raise BackendError(f"got {len(images)} images but {len(prompts)} prompts; pass one prompt per image")
        out: list[str] = []
        for image, prompt in zip(images, prompts):
            self.calls.append((tuple(image.size), prompt))
            if self._responder is not None:
                text = self._responder(image, prompt)
                if not isinstance(text, str):
                    raise BackendError(f"scripted responder returned {type(text).__name__}, not str")
            else:
                text = self._canned[self._next % len(self._canned)]
                self._next += 1
            out.append(text)
        return out

    def __repr__(self) -> str:
        return f"ScriptedBackend(box_convention={self.box_convention!r}, calls={len(self.calls)})"
