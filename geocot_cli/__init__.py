"""geocot: auditable, georeferenced Geo-CoT answers from vision-language models on large scenes.

Importing this package imports no torch: heavy modules load inside the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    BackendError,
    BandError,
    ConfigError,
    DataError,
    GeocotError,
    ModelNotFoundError,
    OutputError,
    SceneError,
    TilingError,
    TraceError,
)

__all__ = sorted(
    [
        "BackendError",
        "BandError",
        "ConfigError",
        "DataError",
        "GeocotError",
        "ModelNotFoundError",
        "OutputError",
        "SceneError",
        "TilingError",
        "TraceError",
        "__version__",
    ]
)
