"""The run journal: every finished tile appended to a JSON Lines file, flushed as it lands.

The first line is a header naming the run (scene, task, question, classes, tiling, model, box
convention, and its provenance: see :mod:`geocot_cli.io.provenance`); each further line is one
tile: its id, window, the raw model text, and the image size it was parsed against, or why it was
skipped or failed. Nothing derived is stored: a tile's trace, audit and features are rebuilt from
its text, so a resumed run, an uninterrupted run and ``geocot export`` all produce the same output.

A run that stops on an error a user can fix (a block of the raster that cannot be read, an output
that cannot be written) after some tiles were answered appends a last line ``{"stopped": why}``
(:meth:`Journal.stop`). Running the same command again then continues that journal (as
``--resume`` would) instead of refusing it; with other options it starts again, replacing it.

A torn last line (the process was killed mid-write) is ignored on reading.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, OutputError

__all__ = ["FORMAT", "Journal", "JournalHeader", "JournalWarning", "journal_path", "journal_stopped", "read_journal"]

FORMAT = "geocot-journal/1"


class JournalWarning(UserWarning):
    """A journal left by a run that stopped on an error was continued or replaced."""


@dataclass(frozen=True)
class JournalHeader:
    """What identifies a run; a resume must match it exactly."""

    scene: str
    task: str
    question: str | None
    classes: tuple[str, ...] | None
    tile: int
    overlap: int
    bands: tuple[int, ...] | None
    min_valid: float
    model: str
    box_convention: str
    strategy: str = "grid"
    overview_max_decimation: float | None = None
    overview_margin: float | None = None
    #: what produced the run (:func:`~geocot_cli.io.provenance.run_provenance`); not part of a
    #: run's identity (it holds the start time), so a resume does not compare it
    provenance: dict[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = FORMAT
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JournalHeader:
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for key in ("classes", "bands"):
            if fields[key] is not None:
                fields[key] = tuple(fields[key])
        if not isinstance(fields.get("provenance"), (dict, type(None))):
            fields["provenance"] = None
        return cls(**fields)


def journal_path(out: str | Path) -> Path:
    """Where the journal of a run writing ``out`` lives: beside it.

    >>> journal_path("ships.gpkg").name
    'ships.gpkg.journal.jsonl'
    """
    p = Path(out)
    return p.with_name(p.name + ".journal.jsonl")


def read_journal(path: str | Path) -> tuple[JournalHeader, dict[str, dict[str, Any]]]:
    """Read a journal: its header and the finished tiles by id (a torn last line is dropped)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such journal; it is written beside the --out file as <out>.journal.jsonl")
    lines = p.read_bytes().split(b"\n")
    try:
        head = json.loads(lines[0])
    except (ValueError, RecursionError):
        raise DataError(f"{p}:1: not a geocot journal (no header line)") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise DataError(f"{p}:1: not a geocot journal (expected format {FORMAT})")
    if _bad_header(head):
        raise DataError(f"{p}:1: damaged journal header ({_bad_header(head)}); start the run again without --resume")
    header = JournalHeader.from_dict(head)
    tiles: dict[str, dict[str, Any]] = {}
    for n, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (ValueError, RecursionError):
            if n == len(lines) or all(not x.strip() for x in lines[n:]):
                break  # torn final line from a killed run
            raise DataError(f"{p}:{n}: damaged journal line; remove it and resume") from None
        if _is_stop_record(rec):
            continue  # why an earlier run stopped: see journal_stopped
        if not _is_tile_record(rec):
            raise DataError(f"{p}:{n}: not a tile record of a geocot journal; remove the line and resume")
        tiles[rec["tile"]] = rec
    return header, tiles


def _bad_header(head: Mapping[str, Any]) -> str | None:
    """The first header field of the wrong type, or None."""
    kinds = {"scene": str, "task": str, "tile": int, "overlap": int, "min_valid": (int, float),
             "model": str, "box_convention": str}
    for key, kind in kinds.items():
        if not isinstance(head.get(key), kind) or isinstance(head.get(key), bool):
            return f"{key} is {head.get(key)!r}"
    for key, kind in (("classes", str), ("bands", int)):
        value = head.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, kind) for v in value)):
            return f"{key} is {value!r}"
    return None


def _is_stop_record(rec: Any) -> bool:
    return isinstance(rec, dict) and isinstance(rec.get("stopped"), str) and "tile" not in rec


def journal_stopped(path: str | Path) -> str | None:
    """Why the run that wrote ``path`` stopped on an error (its last line), or None (it did not:
    it finished, was interrupted, or is still running).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "j.jsonl"
    >>> _ = p.write_text('{"format": "geocot-journal/1"}\\n{"stopped": "block 3 cannot be read"}\\n')
    >>> journal_stopped(p)
    'block 3 cannot be read'
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            tail = fh.read().split(b"\n")
    except OSError:
        return None
    last = next((line for line in reversed(tail) if line.strip()), b"")
    try:
        rec = json.loads(last)
    except (ValueError, RecursionError):
        return None
    return rec["stopped"] if _is_stop_record(rec) else None


def _is_tile_record(rec: Any) -> bool:
    if not isinstance(rec, dict) or not isinstance(rec.get("tile"), str):
        return False
    if any(rec.get(k) is not None and not isinstance(rec[k], str) for k in ("text", "skipped", "error")):
        return False
    if rec.get("text") is None:
        return True
    size = rec.get("image_size")
    return (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size))


class Journal:
    """Append-only writer; each record is one line, flushed before the next tile."""

    def __init__(self, path: str | Path, header: JournalHeader, *, resume: bool = False, overwrite: bool = False):
        self.path = Path(path)
        self.header = header
        self.done: dict[str, dict[str, Any]] = {}
        self._fresh = False  # created by this run: removed on close if it holds no model output
        self._ran = False
        if self.path.is_dir():
            raise OutputError(f"journal {self.path} is a folder; give a file name, e.g. {self.path / 'run.journal.jsonl'}")
        if resume:
            if self.path.exists():
                old, self.done = read_journal(self.path)
                if old != header:
                    diff = [k for k, f in header.__dataclass_fields__.items()
                            if f.compare and getattr(old, k) != getattr(header, k)]
                    raise ConfigError(
                        f"{self.path} was written by a different run ({', '.join(diff)} differ); "
                        "repeat the original command with --resume, or drop --resume to start again"
                    )
                self._truncate_torn_tail()
                self._fh = open(self.path, "a", encoding="utf-8")
                return
        elif self.path.exists() and not overwrite:
            stopped = journal_stopped(self.path)
            if stopped is None:
                raise OutputError(
                    f"{self.path} holds an earlier run's journal; pass --resume to continue it "
                    "or --overwrite to start again"
                )
            if self._continue_stopped(header, stopped):
                return
        try:
            self._fh = open(self.path, "w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(
                f"cannot write the journal {self.path} ({exc.strerror or exc}); choose a --journal in a writable folder"
            ) from None
        self._fresh = True
        self._write(header.to_dict())

    def _continue_stopped(self, header: JournalHeader, stopped: str) -> bool:
        """A rerun of a run that stopped on an error: continue it when it is the same run (True),
        else start again over it (False). Either way, say so."""
        try:
            old, done = read_journal(self.path)
        except (DataError, ConfigError):
            old, done = None, {}
        why = " ".join(stopped.split())
        why = why if len(why) <= 160 else why[:157] + "..."
        if old == header:
            self.done = done
            self._truncate_torn_tail()
            self._fh = open(self.path, "a", encoding="utf-8")
            warnings.warn(
                f"continuing {self.path} from its {len(done)} finished tiles: the earlier run stopped on an "
                f"error ({why}); pass --overwrite to start again", JournalWarning, stacklevel=3,
            )
            return True
        warnings.warn(
            f"replacing {self.path}, the journal of an earlier run with other options that stopped on an error "
            f"({why})", JournalWarning, stacklevel=3,
        )
        return False

    def stop(self, reason: str) -> None:
        """Record that the run stopped on an error a user can fix (a rerun then continues it)."""
        if not self._fh.closed:
            self._write({"stopped": " ".join(str(reason).split())})

    @property
    def answered(self) -> int:
        """Tiles recorded with model output or a model error (this run and the one it continues)."""
        return sum(1 for r in self.done.values() if r.get("text") is not None or r.get("error") is not None)

    def _truncate_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def _write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()  # in the OS once flushed: survives the process being killed (SIGKILL, Ctrl-C)

    def record(self, result) -> None:
        """Append one finished tile (a :class:`geocot_cli.pipeline.TileResult`)."""
        w = result.tile.window
        rec = {
            "tile": result.tile.id,
            "window": [int(w.col_off), int(w.row_off), int(w.width), int(w.height)],
            "skipped": result.skipped,
            "error": result.error,
            "text": result.text,
            "image_size": list(result.image_size) if result.image_size else None,
        }
        self.done[result.tile.id] = rec
        self._ran = self._ran or result.text is not None or result.error is not None
        self._write(rec)

    def close(self) -> None:
        """Close the file; a journal this run created that holds no model output is removed
        (a run that failed or stopped before the model answered leaves nothing behind)."""
        if not self._fh.closed:
            self._fh.close()
            if self._fresh and not self._ran:
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.done.values())
