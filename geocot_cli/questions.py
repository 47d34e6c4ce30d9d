"""What a question asks (its task, the classes it names, what its referring expression wants) and
what an answer's words name (class labels, closed label sets).

Question routing, :func:`route_question` (the first matching row wins; ``ask --task`` overrides it):

========  ====================================================================  ====================
task      the question contains (case-insensitive, whole words)                 example
========  ====================================================================  ====================
count     how many, number of, count                                            How many ships?
detect    detect, find all, locate all, show all, mark all, list all, where are  Where are the tanks?
ground    where is, locate, find the, point to, which one                       Where is the largest ship?
classify  what kind/type of scene/area/place/land, classify, scene class,       What type of area is this?
          land use, land cover, what is this scene/area/place
caption   describe, caption, summarise/summarize, what does ... look like        Describe the scene.
vqa       anything else (yes/no, attributes, open questions)                    Is there a bridge?
========  ====================================================================  ====================
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .compass import Compass
from .errors import ConfigError
from .metrics import normalize_answer
from .types import TASKS

__all__ = [
    "UNKNOWN", "QuestionPlan", "class_key", "expression_key", "label_matches", "map_label", "plan_question",
    "plural", "polar_classes", "question_classes", "route_question",
]

#: The class of a cell whose answer is empty or outside a closed label set.
UNKNOWN = "unknown"

# ------------------------------------------------------------------------------------------ routing
# First rule whose pattern matches the lower-cased question wins (the table in the module doc).
_ROUTES: tuple[tuple[str, str], ...] = (
    ("count", r"\b(how many|number of|count)\b"),
    ("detect", r"\b(detect|find all|locate all|show all|mark all|list all|where are)\b"),
    ("ground", r"\b(where is|locate|find the|point to|which one)\b"),
    (
        "classify",
        r"\b(what (kind|type|sort) of (scene|area|place|land|region)|classify|scene class|land use|"
        r"land cover|what is this (scene|area|place|region))\b",
    ),
    ("caption", r"\b(describe|caption|summari[sz]e|what does .* look like)\b"),
)
_CLASS_AFTER = re.compile(
    r"\b(?:how many|number of|count(?: the| all)?|detect(?: the| all)?|find all|locate all|show all|mark all|"
    r"list all|where are(?: the| all)?)\s+(?:the\s+|all\s+)?([a-z][a-z \-]*?)(?=\s+(?:are|is|can|do|does|in|on|at|"
    r"near|of|there|visible|present|located|around|within|inside|that|which)\b|[?.,!]|$)"
)


def route_question(question: str) -> str:
    """Pick the task a question asks for (the routing table of the module doc); else ``vqa``.

    >>> [route_question(q) for q in ["How many bridges?", "Where are the ships?",
    ...  "Where is the largest tank?", "What type of area is this?", "Describe the scene",
    ...  "Is there a river?"]]
    ['count', 'detect', 'ground', 'classify', 'caption', 'vqa']
    """
    q = question.lower()
    for task, pattern in _ROUTES:
        if re.search(pattern, q):
            return task
    return "vqa"


def question_classes(question: str) -> list[str] | None:
    """The object class a count or detect question names, singular; None when it names none.

    >>> question_classes("How many storage tanks are there?"), question_classes("Where are the ships?")
    (['storage tank'], ['ship'])
    >>> question_classes("how many?") is None
    True
    """
    m = _CLASS_AFTER.search(question.lower())
    if not m:
        return None
    words = [w for w in m.group(1).replace("-", " ").split() if w not in ("the", "all", "any", "objects", "object")]
    if not words or len(words) > 3:
        return None
    return [" ".join(words[:-1] + [_singular(words[-1])])]


_STOP = (r"(?=\s+(?:are|is|can|do|does|in|on|at|near|next|by|of|there|visible|present|located|around|within|inside|"
         r"that|which|here|nearby|anywhere|along|beside|close)\b|[?.,!]|$)")
_POLAR_CLASS = re.compile(
    r"^\s*(?:(?:is|are)\s+there|(?:does|do|did)\s+(?:the|this|that)\s+(?:scene|image|area|picture|photo|tile|raster|"
    r"region)\s+(?:contain|have|show|include|hold)|can\s+(?:you|we|i)\s+see|(?:is|are)(?=\s+(?:an?|any|some)\s))"
    r"\s+(?:any\s+|an?\s+|some\s+|the\s+)?([a-z][a-z \-]*?)(?=\s+[a-z]+(?:ed|ing)\b|" + _STOP[3:]
)  # a participle ends the class too: "is any plane parked?", "is there a ship moving?"


def polar_classes(question: str) -> list[str] | None:
    """The object class a yes/no question asks about, singular; None when it names none.

    >>> polar_classes("Is there a bridge?"), polar_classes("Are there any storage tanks near the river?")
    (['bridge'], ['storage tank'])
    >>> polar_classes("Does the scene contain ships?"), polar_classes("Is any plane parked near the runway?")
    (['ship'], ['plane'])
    >>> polar_classes("Is the harbour busy?") is None, polar_classes("Are there more than 5 ships?") is None
    (True, True)
    """
    m = _POLAR_CLASS.search(question.lower())
    if not m:
        return None
    words = [w for w in m.group(1).replace("-", " ").split() if w not in ("the", "all", "any", "objects", "object")]
    if not words or len(words) > 3:
        return None
    return [" ".join(words[:-1] + [_singular(words[-1])])]


@dataclass(frozen=True)
class QuestionPlan:
    """How ``ask`` answers a question: the task, the text sent to the model, the classes asked about."""

    task: str
    question: str | None
    classes: tuple[str, ...] | None


def plan_question(question: str, task: str | None = None, classes: Sequence[str] | None = None) -> QuestionPlan:
    """Route ``question`` (unless ``task`` forces one) and find the classes it asks about.

    ``classes`` given by the user win; count and detect questions otherwise take the class they
    name ("how many ships" -> ship), and so do yes/no questions ("is there a bridge?" -> bridge,
    :func:`polar_classes`), which are then answered from boxes of that class only. The question is
    sent to the model as written.

    >>> plan_question("How many ships are moored?")
    QuestionPlan(task='count', question='How many ships are moored?', classes=('ship',))
    >>> plan_question("What is it?", task="classify", classes=["harbor", "airport"]).classes
    ('harbor', 'airport')
    >>> plan_question("Is there a bridge?")
    QuestionPlan(task='vqa', question='Is there a bridge?', classes=('bridge',))
    """
    if not question or not question.strip():
        raise ConfigError('the question is empty; ask something, e.g. "how many ships?"')
    routed = task or route_question(question)
    if routed not in TASKS:
        raise ConfigError(f"unknown task {routed!r}; use one of {', '.join(TASKS)}")
    found = classes or (question_classes(question) if routed in ("count", "detect", "vqa") else None)
    if not found and routed == "vqa":
        found = polar_classes(question)
    return QuestionPlan(routed, question.strip(), tuple(found) if found else None)


# ------------------------------------------------------------------------------------------- labels
def _singular(word: str) -> str:
    w = word.strip().lower().replace("_", " ").replace("-", " ")
    for suffix, repl in (("ies", "y"), ("ves", "f"), ("sses", "ss"), ("shes", "sh"), ("ches", "ch"), ("s", "")):
        if w.endswith(suffix) and not w.endswith("ss") and len(w) > len(suffix) + 1:
            return w[: -len(suffix)] + repl
    return w


def plural(words: str) -> str:
    """English plural of a class name (last word inflected).

    >>> plural("storage tank"), plural("ferry"), plural("bus"), plural("")
    ('storage tanks', 'ferries', 'buses', '')
    """
    if not words:
        return words
    head, _, last = words.rpartition(" ")
    if last.endswith(("s", "x", "ch", "sh", "z")):
        last += "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def class_key(label: str) -> str:
    """The class a label names, as the per-class summaries key it: lower case, last word singular.

    >>> class_key("Storage Tanks"), class_key("ship")
    ('storage tank', 'ship')
    """
    return " ".join(_singular(w) if i == len(label.split()) - 1 else w for i, w in enumerate(label.lower().split()))


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


def map_label(answer: str | None, classes: Sequence[str] | None = None) -> str:
    """The class a classification answer names: in ``classes`` when given, else the answer itself.

    With a closed set, in order: the same words (after normalisation: case, ``_``/``-``,
    punctuation, articles, plural); a label whose words appear in the answer (the longest such);
    an answer whose words appear in exactly one label; the label spelt closest (difflib ratio >=
    0.8, e.g. harbour/harbor); otherwise ``unknown``. An empty answer is ``unknown``.

    >>> map_label("Harbour.", ["airport", "harbor"]), map_label("It is a tank farm", ["tank farm", "airport"])
    ('harbor', 'tank farm')
    >>> map_label("forest", ["airport", "harbor"]), map_label("Dense_Residential", None)
    ('unknown', 'dense residential')
    """
    a = normalize_answer(answer)
    if not a:
        return UNKNOWN
    if not classes:
        return a
    norm = {normalize_answer(c): c for c in classes}
    sing = {" ".join(map(_singular, k.split())): c for k, c in norm.items()}
    a_sing = " ".join(map(_singular, a.split()))
    if a_sing in sing:
        return sing[a_sing]
    words = a_sing.split()
    inside = [k for k in sing if _run_in(words, k.split())]
    if inside:
        return sing[max(inside, key=len)]
    holds = [k for k in sing if _run_in(k.split(), words)]
    if len(holds) == 1:
        return sing[holds[0]]
    close = difflib.get_close_matches(a_sing, list(sing), n=1, cutoff=0.8)
    return sing[close[0]] if close else UNKNOWN


def _run_in(haystack: list[str], needle: list[str]) -> bool:
    k = len(needle)
    return k > 0 and any(haystack[i : i + k] == needle for i in range(len(haystack) - k + 1))



_SIZE_WORDS = {
    "largest": -1, "biggest": -1, "longest": -1, "widest": -1, "largest-looking": -1,
    "smallest": 1, "tiniest": 1, "shortest": 1, "narrowest": 1,
}
_AXIS_WORDS = {  # (axis, sign): sort key = sign * coordinate, smaller is better
    "northernmost": ("n", -1), "northmost": ("n", -1), "topmost": ("n", -1), "uppermost": ("n", -1),
    "southernmost": ("n", 1), "southmost": ("n", 1), "bottommost": ("n", 1), "lowermost": ("n", 1),
    "easternmost": ("e", -1), "eastmost": ("e", -1), "rightmost": ("e", -1),
    "westernmost": ("e", 1), "westmost": ("e", 1), "leftmost": ("e", 1),
}
_PLACE = re.compile(
    r"\b(north[- ]?west|north[- ]?east|south[- ]?west|south[- ]?east|north|south|east|west|centre|center|middle|"
    r"(?:top|upper|bottom|lower)[- ](?:left|right)|top|bottom|left|right)(?:ern)?\b"
)


def expression_key(expression: str, compass: Compass) -> Callable[[Any], float] | None:
    """The sort key (smaller is better) over candidate features that a referring expression asks
    for, or None when it asks for nothing a box can show.

    Size superlatives compare box areas; direction superlatives (northernmost, ..., leftmost)
    and places ("in the north-west", "top left", "centre") use the scene's geographic axes from
    its geotransform (:class:`~geocot_cli.compass.Compass`), never pixel rows.

    >>> from types import SimpleNamespace
    >>> from affine import Affine
    >>> from shapely.geometry import box
    >>> south_up = Compass(Affine(1, 0, 0, 0, 1, 0), 100, 100, georeferenced=True)
    >>> low, high = (SimpleNamespace(scene_box=(0, r, 10, r + 10), geometry=box(0, r, 10, r + 10)) for r in (5, 80))
    >>> key = expression_key("the northernmost ship", south_up)
    >>> min([low, high], key=key) is high  # rows grow northwards in a south-up raster
    True
    >>> expression_key("the red car", south_up) is None
    True
    """
    words = re.findall(r"[a-z][a-z\-]*", expression.lower())
    for w in words:
        if w in _SIZE_WORDS:
            sign = _SIZE_WORDS[w]
            return lambda f: sign * (f.scene_box[2] - f.scene_box[0]) * (f.scene_box[3] - f.scene_box[1])
        if w in _AXIS_WORDS:
            axis, sign = _AXIS_WORDS[w]

            def extreme(f: Any) -> float:
                c = f.geometry.centroid
                e, n = compass.east_north(c.x, c.y)
                return sign * (n if axis == "n" else e)

            return extreme
    m = _PLACE.search(expression.lower())
    if m:
        name = m.group(1).replace(" ", "-")
        if "-" not in name and len(name) > 5 and name[:5] in ("north", "south"):  # northwest -> north-west
            name = name[:5] + "-" + name[5:]
        target = compass.target(name)
        if target is not None:
            def distance(f: Any) -> float:
                c = f.geometry.centroid
                u, v = compass.position(c.x, c.y)
                return math.hypot(u - target[0], v - target[1])

            return distance
    return None
