"""Geo-CoT prompts, one per task, in one place.

Every prompt asks for the same shape of answer: ``<think>`` with Planning, Grounding (one line per
object: label, box, claim) and Synthesis, then ``<answer>``. The training data (``geocot data
backfill``) and evaluation use these same prompts, so a model trained by geocot sees at inference
exactly the wording it was trained on.

>>> build_prompt("count", "how many ships?").splitlines()[0]
'how many ships?'
>>> "[[x1,y1,x2,y2], ...]" in build_prompt("detect", classes=["ship"])
True
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError
from .types import TASKS

__all__ = ["FORMAT_INSTRUCTION", "build_prompt", "default_question", "sample_prompt"]

FORMAT_INSTRUCTION = (
    "Think step by step inside <think></think>: Planning, then Grounding with one line per object "
    "(label [x1,y1,x2,y2]: what you see), then Synthesis. Then give the final answer inside "
    "<answer></answer>."
)

_ANSWER_SHAPE = {
    "vqa": "Answer briefly.",
    "caption": "Answer with one or two sentences describing the image.",
    "classify": "Answer with the scene class only.",
    "ground": "Answer with the box [x1,y1,x2,y2] of the object.",
    "count": "Answer with a single number.",
    "detect": "Answer with the list of boxes [[x1,y1,x2,y2], ...], or [] if there is none.",
}


def _class_phrase(classes: Sequence[str] | None, default: str = "objects") -> str:
    if not classes:
        return default
    names = [c.replace("_", " ") for c in classes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def default_question(task: str, classes: Sequence[str] | None = None) -> str:
    """The question geocot asks for ``task`` when the user gives none.

    >>> default_question("detect", ["ship", "storage_tank"])
    'Detect all ship and storage tank in the image.'
    >>> default_question("classify", ["airport", "harbor"])
    'What is the scene class of this image? Choose one of: airport, harbor.'
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    if task == "detect":
        return f"Detect all {_class_phrase(classes)} in the image."
    if task == "count":
        return f"How many {_class_phrase(classes)} are in the image?"
    if task == "classify":
        choice = f" Choose one of: {', '.join(classes)}." if classes else ""
        return f"What is the scene class of this image?{choice}"
    if task == "caption":
        return "Describe the image."
    if task == "ground":
        raise ConfigError("the ground task needs a referring expression, e.g. 'the largest ship'")
    raise ConfigError("the vqa task needs a question")


def build_prompt(task: str, question: str | None = None, classes: Sequence[str] | None = None) -> str:
    """The full user prompt for one image: the question, the answer shape, the trace format.

    A classification question asked in the user's own words still lists a closed label set:

    >>> build_prompt("classify", "What kind of area is this?", ["harbor", "airport"]).splitlines()[0]
    'What kind of area is this? Choose one of: harbor, airport.'
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    q = (question or "").strip() or default_question(task, classes)
    if task == "ground" and not q.lower().startswith(("locate", "find", "where", "ground")):
        q = f"Locate {q}."
    if task == "classify" and question and classes and "choose one of" not in q.lower():
        q = f"{q} Choose one of: {', '.join(classes)}."
    return f"{q}\n{_ANSWER_SHAPE[task]}\n{FORMAT_INSTRUCTION}"


def sample_prompt(sample, classify_classes: Sequence[str] | None = None) -> str:
    """The prompt for one dataset sample, the same in ``geocot eval`` and in training.

    Classification lists ``classify_classes`` (the benchmark's label set) as the choices; other
    tasks name the sample's own labels.

    >>> from types import SimpleNamespace
    >>> s = SimpleNamespace(task="count", question="How many ships?", labels=["ship", "ship"])
    >>> sample_prompt(s).splitlines()[0]
    'How many ships?'
    """
    if sample.task == "classify":
        classes = list(classify_classes) if classify_classes else None
    else:
        classes = sorted(set(sample.labels)) or None
    return build_prompt(sample.task, sample.question or None, classes)
