"""Errors a user can fix, one small class per failure.

Every message says what went wrong, with the offending value, and what to do about it. The CLI
turns any :class:`GeocotError` into one red line on stderr and exit code 2; anything else is a bug
and exits 1 (with its traceback under ``--debug``).

::

    GeocotError
     +-- SceneError (ValueError)        a raster that cannot be opened or used
     |    +-- BandError                 --bands out of range, no usable band
     +-- TilingError (ValueError)       tile / overlap settings that cannot work
     +-- TraceError (ValueError)        text that is not a Geo-CoT trace at all (parsing is lenient)
     +-- BackendError (RuntimeError)    a model or server that cannot be loaded or reached
     |    +-- ModelNotFoundError        a model folder that does not exist or holds no model
     +-- OutputError (OSError)          an output that cannot or must not be written
     +-- DataError (ValueError)         a dataset, label file or JSONL line that is malformed
     +-- ConfigError (ValueError)       an option or recipe value that is out of range

>>> issubclass(BandError, SceneError) and issubclass(SceneError, GeocotError)
True
"""

from __future__ import annotations

__all__ = [
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
]


class GeocotError(Exception):
    """Root of every error geocot raises on purpose."""


class SceneError(GeocotError, ValueError):
    """A raster that cannot be opened, read or used as a scene."""


class BandError(SceneError):
    """A band selection that the raster cannot satisfy."""


class TilingError(GeocotError, ValueError):
    """Tile size and overlap that cannot cover a scene."""


class TraceError(GeocotError, ValueError):
    """A value that cannot be treated as model output at all."""


class BackendError(GeocotError, RuntimeError):
    """A model backend that cannot be loaded, or a server that cannot be reached."""


class ModelNotFoundError(BackendError):
    """A model path or id that holds no loadable model."""


class OutputError(GeocotError, OSError):
    """An output file that cannot, or must not, be written."""


class DataError(GeocotError, ValueError):
    """A malformed dataset: label file, JSONL line, image reference."""


class ConfigError(GeocotError, ValueError):
    """An option or recipe value outside its allowed range."""
