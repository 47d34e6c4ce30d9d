"""Scene-level answers, assembled from the grounded evidence of every tile.

A scene count is the number of distinct evidence boxes after seam de-duplication, never the sum of
tile answers; a detection is the de-duplicated evidence; tiles whose own answer disagrees with their
own evidence are flagged, so an analyst sees where the model contradicted itself.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError
from .georef import Feature, dedupe_seams
from .pipeline import TileResult
from .types import TASKS

__all__ = ["SceneAnswer", "assemble", "label_matches", "route_question"]


@dataclass(frozen=True)
class SceneAnswer:
    """One answer for a whole scene, with the evidence behind it and what happened on each tile."""

    task: str
    question: str | None
    answer: str
    evidence: tuple[Feature, ...]
    tiles: tuple[TileResult, ...] = field(repr=False, default=())
    flagged: tuple[str, ...] = ()
    per_class: dict[str, int] = field(default_factory=dict)
    value: object = None

    @property
    def tiles_total(self) -> int:
        return len(self.tiles)

    @property
    def tiles_processed(self) -> int:
        return sum(1 for t in self.tiles if t.skipped is None and t.error is None)

    @property
    def tiles_failed(self) -> int:
        return sum(1 for t in self.tiles if t.error is not None)

    @property
    def tiles_skipped(self) -> int:
        return sum(1 for t in self.tiles if t.skipped is not None)


# Routing: first rule whose pattern matches the lower-cased question wins.
_ROUTES: tuple[tuple[str, str], ...] = (
    ("count", r"\b(how many|count|number of)\b"),
    ("detect", r"\b(detect|find all|locate all|show all|mark all|where are)\b"),
    ("ground", r"\b(where is|locate|find the|point to|ground)\b"),
    ("classify", r"\b(what (kind|type) of (scene|area|place|land)|classify|scene class|land use|land cover)\b"),
    ("caption", r"\b(describe|caption|summari[sz]e|what does .* look like)\b"),
)


def route_question(question: str) -> str:
    """Pick the task a question asks for; open questions go to ``vqa``.

    >>> [route_question(q) for q in ["How many bridges?", "Where are the ships?",
    ...  "Where is the largest tank?", "Describe the scene", "Is there a river?"]]
    ['count', 'detect', 'ground', 'caption', 'vqa']
    """
    q = question.lower()
    for task, pattern in _ROUTES:
        if re.search(pattern, q):
            return task
    return "vqa"


def _singular(word: str) -> str:
    w = word.strip().lower().replace("_", " ").replace("-", " ")
    for suffix, repl in (("ies", "y"), ("ves", "f"), ("sses", "ss"), ("shes", "sh"), ("ches", "ch"), ("s", "")):
        if w.endswith(suffix) and not w.endswith("ss") and len(w) > len(suffix) + 1:
            return w[: -len(suffix)] + repl
    return w


def label_matches(label: str, classes: Sequence[str] | None) -> bool:
    """True when ``label`` names one of ``classes`` (singular/plural, spaces/underscores agnostic).

    >>> label_matches("ships", ["ship"]), label_matches("storage tank", ["storage_tank"])
    (True, True)
    >>> label_matches("large vehicle", ["vehicle"]), label_matches("plane", ["ship"])
    (True, False)
    """
    if not classes:
        return True
    lab = _singular(label)
    for c in classes:
        cs = _singular(c)
        if lab == cs or lab.endswith(" " + cs):
            return True
    return False


def _with_label(features: Iterable[Feature], classes: Sequence[str] | None) -> list[Feature]:
    """Keep features of the asked classes; an unlabelled box takes the class when only one was asked."""
    import dataclasses

    out = []
    for f in features:
        if not f.label and classes and len(classes) == 1:
            f = dataclasses.replace(f, label=classes[0])
        if label_matches(f.label, classes):
            out.append(f)
    return out


def _summary(per_class: dict[str, int]) -> str:
    return ", ".join(f"{n} {lab or 'object'}" for lab, n in sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0])))


def assemble(
    task: str,
    results: Iterable[TileResult],
    *,
    question: str | None = None,
    classes: Sequence[str] | None = None,
    nms_iou: float = 0.5,
) -> SceneAnswer:
    """Build the scene-level answer for ``task`` from per-tile results."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    tiles = tuple(results)
    raw = [f for r in tiles for f in r.features]
    evidence = tuple(dedupe_seams(_with_label(raw, classes), iou=nms_iou))
    per_class = dict(Counter(f.label for f in evidence))
    flagged = tuple(r.tile.id for r in tiles if r.audit is not None and r.audit.consistent is False)
    if task in ("count", "detect"):
        n = len(evidence)
        what = _summary(per_class) if per_class else f"0 {', '.join(classes) if classes else 'objects'}"
        answer = str(n) if task == "count" else f"{n} found: {what}" if n else f"none found ({what})"
        return SceneAnswer(task, question, answer, evidence, tiles, flagged, per_class, value=n)
    # Other tasks: answers per tile, most common first (issue-specific assembly lives here later).
    answers = Counter(r.answer.strip() for r in tiles if r.answer and r.answer.strip())
    answer = answers.most_common(1)[0][0] if answers else ""
    return SceneAnswer(task, question, answer, evidence, tiles, flagged, per_class, value=dict(answers))
