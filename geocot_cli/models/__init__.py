"""Models geocot builds itself: the tiny GLM-4.1V used by tests and as the seed of the demo model.

>>> from geocot_cli.models import build_tiny_model
>>> callable(build_tiny_model)
True
"""

from __future__ import annotations

from .tiny import build_tiny_model

__all__ = ["build_tiny_model"]
