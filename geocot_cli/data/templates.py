"""The default Geo-CoT writer: deterministic templates that reason over the ground truth only.

Given a sample, :func:`template_trace` writes the canonical trace::

    <think>Planning: <what the question needs and how it will be found>
    Grounding:
    1. ship [120,40,180,90]: a ship in the upper left of the image.
    2. ship [300,310,350,380]: a large ship near the centre.
    Synthesis: I grounded 2 ships, so the answer is 2.</think>
    <answer>2</answer>

The Grounding section cites exactly the sample's evidence boxes (``boxes``, plus ``target_box``
for grounding), one line per object, sorted top to bottom then left to right (by ``y1``, then
``x1``), in the target model's box convention (converted with :mod:`geocot_cli.boxes`). Claims say
only what the ground truth implies: the class, where the box lies in the image, its size relative
to the other objects of its class, and whether it touches the image edge. The wording varies between
samples (a choice seeded by the sample's id), but the same sample always gets the same trace.

>>> from pathlib import Path
>>> from geocot_cli.data.schema import Sample
>>> s = Sample(image=Path("/d/a.png"), task="count", question="How many ships are in the image?",
...            count=1, boxes=((10, 10, 20, 30),), labels=("ship",), image_size=(100, 100))
>>> print(template_trace(s))  # doctest: +ELLIPSIS
<think>Planning: ...
Grounding:
1. ship [10,10,20,30]: ...
Synthesis: ... 1 ship, so the answer is 1.</think>
<answer>1</answer>
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Sequence

from ..boxes import format_box, format_boxes, from_pixels
from ..types import ImageSize, PixelBox
from .schema import Sample
from .tasks import label_words, plural

__all__ = [
    "answer_text",
    "cap_evidence",
    "evidence",
    "nocot_trace",
    "sort_key",
    "subject_class",
    "template_trace",
]


def sort_key(box: Sequence[float]) -> tuple[float, float, float, float]:
    """Reading order of boxes in a trace: top to bottom (``y1``), then left to right (``x1``)."""
    return (box[1], box[0], box[3], box[2])


def evidence(sample: Sample) -> list[tuple[PixelBox, str]]:
    """The (box, label) pairs a trace must ground, sorted by :func:`sort_key`.

    The sample's ``boxes`` (labels default to its subject class); for ``ground`` the ``target_box``
    is added when it is not already one of them.
    """
    default = subject_class(sample)
    labels = sample.labels or (default,) * len(sample.boxes)
    items = [(tuple(b), label_words(l)) for b, l in zip(sample.boxes, labels)]
    if sample.task == "ground" and sample.target_box is not None:
        if not any(b == tuple(sample.target_box) for b, _ in items):
            items.append((tuple(sample.target_box), default))
    return sorted(items, key=lambda it: sort_key(it[0]))  # type: ignore[return-value]


_Q_CLASS = (
    re.compile(r"how many (.+?) (?:are|is|can|do)\b", re.I),
    re.compile(r"detect (?:all|every|each)?\s*(?:the )?(.+?)(?: in | on |\.|$)", re.I),
    re.compile(r"is there (?:a|an|any) (.+?)(?: in | on |\?|$)", re.I),
    re.compile(r"are there (?:any )?(.+?)(?: in | on |\?|$)", re.I),
)


def subject_class(sample: Sample) -> str:
    """The object class a sample asks about: its labels, ``meta["class"]``, else from the question."""
    if sample.labels:
        return label_words(sample.labels[0])
    if isinstance(sample.meta.get("class"), str):
        return label_words(sample.meta["class"])
    for rx in _Q_CLASS:
        m = rx.search(sample.question)
        if m:
            words = m.group(1).strip().lower()
            if words.endswith("ies"):
                return words[:-3] + "y"
            if words.endswith(("ses", "xes", "ches", "shes")):
                return words[:-2]
            return words[:-1] if words.endswith("s") and not words.endswith("ss") else words
    return "object"


def cap_evidence(sample: Sample, items: list[tuple[PixelBox, str]], cap: int) -> list[tuple[PixelBox, str]]:
    """The first ``cap`` evidence items in reading order; a grounding sample's target is always kept."""
    keep = items[:cap]
    if sample.task == "ground" and sample.target_box is not None:
        tb = tuple(sample.target_box)
        if not any(b == tb for b, _ in keep):
            keep = items[: max(0, cap - 1)] + [it for it in items if it[0] == tb][:1]
            keep.sort(key=lambda it: sort_key(it[0]))
    return keep


def _conv(box: Sequence[float], convention: str, size: ImageSize) -> str:
    return format_box(from_pixels(box, convention, size))


def answer_text(sample: Sample, convention: str = "pixel", image_size: ImageSize | None = None) -> str:
    """The answer as the target model writes it: boxes converted to ``convention``, else ``sample.answer``.

    Detection boxes are listed in :func:`sort_key` order, as in the Grounding section.
    """
    size = image_size or sample.image_size or (1, 1)
    if sample.task == "detect":
        boxes = sorted(sample.boxes, key=sort_key)
        return format_boxes([from_pixels(b, convention, size) for b in boxes])
    if sample.task == "ground" and sample.target_box is not None:
        return _conv(sample.target_box, convention, size)
    if sample.task == "count" and sample.count is not None:
        return str(sample.count)
    return sample.answer


def nocot_trace(sample: Sample, convention: str = "pixel", image_size: ImageSize | None = None) -> str:
    """The no-CoT target (answer only), for the ablation: ``<answer>...</answer>``.

    >>> from pathlib import Path
    >>> nocot_trace(Sample(image=Path("/a.png"), task="classify", cls="harbor"))
    '<answer>harbor</answer>'
    """
    return f"<answer>{answer_text(sample, convention, image_size)}</answer>"


# ------------------------------------------------------------------------------------ the wording

_POS = {
    (0, 0): ("in the upper left", "in the top-left corner"), (1, 0): ("at the top centre", "near the top edge"),
    (2, 0): ("in the upper right", "in the top-right corner"), (0, 1): ("on the left side", "along the left"),
    (1, 1): ("near the centre", "in the middle"), (2, 1): ("on the right side", "along the right"),
    (0, 2): ("in the lower left", "in the bottom-left corner"), (1, 2): ("at the bottom centre", "near the bottom edge"),
    (2, 2): ("in the lower right", "in the bottom-right corner"),
}


def _position(box: Sequence[float], size: ImageSize, rng: random.Random) -> str:
    w, h = size
    cx, cy = (box[0] + box[2]) / 2 / max(w, 1), (box[1] + box[3]) / 2 / max(h, 1)
    cell = (min(2, max(0, int(cx * 3))), min(2, max(0, int(cy * 3))))
    return rng.choice(_POS[cell])


def _claim(box: Sequence[float], label: str, size: ImageSize, median_area: float, rng: random.Random,
           note: str = "") -> str:
    area = (box[2] - box[0]) * (box[3] - box[1])
    adj = ""
    sized = {"small", "large", "big", "little"} & set(label.split())
    if median_area > 0 and not sized and area > 1.8 * median_area:
        adj = rng.choice(("large ", "larger ", "big "))
    elif median_area > 0 and not sized and area < 0.55 * median_area:
        adj = rng.choice(("small ", "smaller ", "compact "))
    pos = _position(box, size, rng)
    art = "an" if (adj or label)[:1] in "aeiou" else "a"
    edge = ""
    w, h = size
    if box[0] <= 1 or box[1] <= 1 or box[2] >= w - 1 or box[3] >= h - 1:
        edge = rng.choice((", cut by the image edge", ", touching the image border"))
    forms = (
        f"{art} {adj}{label} {pos}{edge}",
        f"{art} {adj}{label}, {pos} of the image{edge}",
        f"{adj}{label} seen {pos}{edge}",
    )
    text = rng.choice(forms)
    return f"{text}{note}."


def _n(n: int, label: str) -> str:
    return f"{n} {label if n == 1 else plural(label)}"


def _plan(sample: Sample, label: str, rng: random.Random) -> str:
    pl, q = plural(label), sample.question.strip()
    options = {
        "detect": (f"The task is to detect every {label} in the image. I will scan the image and ground each {label} with its box.",
                   f"I need to find all {pl}. I will go through the image region by region and box each one.",
                   f"To answer, I must locate each {label} and list its box."),
        "count": (f"The question asks how many {pl} are in the image. I will locate each {label} and count them.",
                  f"To count the {pl}, I will first ground every {label} in the image.",
                  f"I need the number of {pl}. I will find and box each one, then count the boxes."),
        "vqa": (f"The question is: {q} I will look for the relevant objects and ground them before answering.",
                f"To answer \"{q}\", I will check the image for the objects it mentions.",
                f"I will examine the image for evidence relevant to the question: {q}"),
        "ground": (f"I need to find {q.rstrip('.')}. I will ground every candidate {label}, then pick the one that fits.",
                   f"The description is \"{q}\". I will locate the {pl} and compare them with it.",
                   f"To locate {q.rstrip('.')}, I will first box each {label} in the image."),
        "classify": ("To classify the scene, I will ground the objects that characterise it and see which kind dominates.",
                     "I will identify the main structures in the image and use them to decide the scene class.",
                     "The scene class follows from what the image contains, so I will ground its key objects first."),
        "caption": ("To describe the image, I will ground its main objects and then summarise the scene.",
                    "I will first locate the notable objects, then write a short description.",
                    "I will list what is visible, with boxes, and then describe the whole scene."),
    }[sample.task]
    return rng.choice(options)


def _claims_absence(sample: Sample, label: str) -> bool:
    """Whether an empty evidence list means "there is none": count/detect, or an existence "no"."""
    if sample.task in ("count", "detect"):
        return True
    return sample.task == "vqa" and label != "object" and sample.answer.strip().lower().rstrip(".") == "no"


def _summary(items: Sequence[tuple[PixelBox, str]]) -> str:
    counts: dict[str, int] = {}
    for _, l in items:
        counts[l] = counts.get(l, 0) + 1
    parts = [_n(n, l) for l, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _synthesis(sample: Sample, label: str, items: Sequence[tuple[PixelBox, str]], total: int,
               answer: str, target_index: int | None, rng: random.Random) -> str:
    n = len(items)
    more = ""
    if total > n:
        more = f" {total - n} more objects are present that I do not list one by one."
    if sample.task == "detect":
        if n == 0:
            return rng.choice((f"No {plural(label)} are present, so the answer is an empty list.",
                               f"I found no {label}, so there are no boxes to report."))
        if n == 1:
            return rng.choice((f"I grounded 1 {label}, so the answer is its box.",
                               f"Only one {label} is present; the answer lists its box."))
        return rng.choice((f"I grounded {_n(n, label)}, so the answer lists these {n} boxes.",
                           f"All {_n(n, label)} are boxed above; the answer collects their boxes."))
    if sample.task == "count":
        if n == 0:
            return f"I found no {label} in the image, so the answer is 0."
        return rng.choice((f"I grounded {_n(n, label)}, so the answer is {n}.",
                           f"Counting the boxes above gives {_n(n, label)}, so the answer is {n}."))
    if sample.task == "ground":
        k = (target_index or 0) + 1
        if n == 1:
            return f"Object 1 is the {label} described, so its box is the answer."
        return rng.choice((f"Of these, object {k} is the one described as \"{sample.question.strip()}\", so its box is the answer.",
                           f"Object {k} fits the description, so the answer is its box."))
    if sample.task == "classify":
        if n == 0:
            return f"The overall layout of the image is characteristic of a {answer} scene, so the class is {answer}."
        return rng.choice((f"The image contains {_summary(items)}.{more} This marks a {answer} scene, so the class is {answer}.",
                           f"With {_summary(items)} in view, the scene is best classed as {answer}.{more}"))
    if sample.task == "caption":
        if n == 0:
            return "No individual objects stand out, so the description covers the scene as a whole."
        return f"The image shows {_summary(items)}.{more} The description summarises these objects and their layout."
    if n == 0 and _claims_absence(sample, label):
        return rng.choice((f"I found no {label}, so the answer is {answer}.",
                           f"Nothing of the kind is visible, so the answer is {answer}."))
    if n == 0:
        return f"Judging from the image as a whole, the answer is {answer}."
    return rng.choice((f"I grounded {_summary(items)}.{more} So the answer is {answer}.",
                       f"Based on the {n} grounded object{'s' if n != 1 else ''}, the answer is {answer}.{more}"))


def template_trace(
    sample: Sample,
    *,
    convention: str = "pixel",
    image_size: ImageSize | None = None,
    max_objects: int | None = None,
) -> str:
    """The canonical Geo-CoT trace for ``sample`` (module docstring), ``<think>...</think><answer>...``.

    ``max_objects`` caps the objects listed (the target of a grounding sample is always kept); the
    Synthesis then says how many more there are. Do not cap count or detect samples: their answer
    would disagree with the evidence (``backfill`` drops those instead).
    """
    size = image_size or sample.image_size
    if size is None:
        raise ValueError("template_trace needs the image size (sample.image_size or image_size=)")
    rng = random.Random(zlib.crc32(f"{sample.id}|{sample.image.name}|{sample.task}|{sample.question}".encode()))
    label = subject_class(sample)
    items = evidence(sample)
    total = len(items)
    if max_objects is not None and total > max_objects:
        items = cap_evidence(sample, items, max_objects)
    target_index = None
    if sample.task == "ground" and sample.target_box is not None:
        tb = tuple(sample.target_box)
        target_index = next((i for i, (b, _) in enumerate(items) if b == tb), None)
    answer = answer_text(sample, convention, size)
    areas: dict[str, list[float]] = {}
    for b, l in items:
        areas.setdefault(l, []).append((b[2] - b[0]) * (b[3] - b[1]))
    medians = {l: sorted(a)[len(a) // 2] if len(a) >= 3 else 0.0 for l, a in areas.items()}
    lines = []
    for i, (b, l) in enumerate(items):
        note = ""
        if target_index is not None and len(items) > 1:
            note = ", matching the description" if i == target_index else ""
        lines.append(f"{i + 1}. {l} {_conv(b, convention, size)}: {_claim(b, l, size, medians[l], rng, note)}")
    if not lines:
        if _claims_absence(sample, label):
            lines.append(f"No {label} is visible in the image.")
        else:
            lines.append("No individual object needs a box; the answer rests on the scene as a whole.")
    plan = _plan(sample, label, rng)
    synth = _synthesis(sample, label, items, total, answer, target_index, rng)
    body = "\n".join(lines)
    return f"<think>Planning: {plan}\nGrounding:\n{body}\nSynthesis: {synth}</think>\n<answer>{answer}</answer>"
