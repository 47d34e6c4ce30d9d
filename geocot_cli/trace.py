"""Read a model's Geo-CoT trace into plain values: sections, cited boxes in pixels, the answer.

A Geo-CoT trace is ``<think>Planning ... Grounding ... Synthesis ...</think><answer>...</answer>``,
where every grounded claim names an object and its box ``[x1,y1,x2,y2]``. :func:`parse_trace` reads
such text leniently: it never raises on any string. Whatever is wrong with the text (a missing or
unclosed tag, a missing section, a half-written box, a box outside the image, a repetition loop,
binary junk) becomes a short human-readable entry in :attr:`Trace.problems`, and
:attr:`Trace.format_ok` says whether the trace has the full format with no fatal problem.

Boxes are converted from the model's box convention to pixels of the image as fed by
:func:`geocot_cli.boxes.to_pixels` (the only place conversion happens). Corners written in the
wrong order are swapped. A box reaching outside the image is **clipped** to the image (a model
saw nothing beyond it) and flagged (``Evidence.clipped`` and a problem); ``Evidence.raw`` keeps the
numbers as written. Boxes with a NaN/inf value, or lists of 3 or 5 numbers, or a box cut off
mid-way, are not evidence: their text goes to :attr:`Trace.rejected`.

>>> t = parse_trace(
...     "<think>Planning: count the ships.\\nGrounding:\\n1. ship [10,20,30,40]: a ship at a pier.\\n"
...     "Synthesis: 1 ship.</think><answer>1</answer>")
>>> t.format_ok, t.evidence[0].label, t.evidence[0].box, t.evidence[0].claim
(True, 'ship', (10.0, 20.0, 30.0, 40.0), 'a ship at a pier.')
>>> parse_count(t.answer)
1
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .boxes import check_convention, to_pixels
from .errors import ConfigError, TraceError
from .types import ImageSize, PixelBox

__all__ = [
    "FATAL_PROBLEMS", "MAX_BOXES", "Evidence", "Trace", "box_spans", "parse_answer_boxes", "parse_count", "parse_trace",
]

#: Problems that make a trace unusable as a Geo-CoT trace (``Trace.format_ok`` is then False).
FATAL_PROBLEMS: tuple[str, ...] = (
    "empty output",
    "missing <think>",
    "unclosed <think>",
    "missing <answer>",
    "unclosed <answer>",
    "missing planning",
    "missing grounding",
    "missing synthesis",
    "repetition",
    "binary junk",
)

#: Bracketed lists read from ``<think>`` (and from ``<answer>``) at most; more is a degenerate output
#: (a tile of 8,192 generated tokens holds a few hundred boxes at most).
MAX_BOXES = 1000

_SECTIONS = ("planning", "grounding", "synthesis")
_OUTSIDE_TOLERANCE = 0.5  # pixels a box may overshoot the image before it is flagged
_MAX_BOX_PROBLEMS = 40  # individual box problems listed before they are summarised
_CONTEXT = 300  # characters either side of a box searched for its claim
_LABEL_CONTEXT = 120  # characters before a box searched for its label


@dataclass(frozen=True)
class Evidence:
    """One box cited in ``<think>``, with the object it names and the claim it supports.

    ``box`` is in pixels of the image as fed, corners ordered, clipped to the image; ``raw`` holds
    the numbers as written (model convention); ``section`` is ``'planning'``, ``'grounding'``,
    ``'synthesis'``, ``'think'`` (outside any section) or ``'answer'``; ``clipped`` says the box
    reached outside the image.

    >>> Evidence("ship", "a ship.", (0.0, 0.0, 4.0, 2.0), (0, 0, 4, 2), "grounding").area
    8.0
    """

    label: str
    claim: str
    box: PixelBox
    raw: tuple[float, ...]
    section: str
    clipped: bool = False

    @property
    def area(self) -> float:
        """Area of ``box`` in square pixels (0 for a degenerate box)."""
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


@dataclass(frozen=True)
class Trace:
    """A parsed Geo-CoT trace. Text fields are ``None`` when the part is absent.

    ``evidence``: the boxes cited in ``<think>``, in order; ``answer_boxes``: the boxes in
    ``<answer>`` in pixels; ``problems``: what is wrong, one short sentence each; ``rejected``:
    the text of box-like lists that could not be used as boxes.

    >>> Trace(text="").format_ok
    False
    """

    text: str
    think: str | None = None
    answer: str | None = None
    planning: str | None = None
    grounding: str | None = None
    synthesis: str | None = None
    evidence: tuple[Evidence, ...] = ()
    answer_boxes: tuple[PixelBox, ...] = ()
    problems: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()

    @property
    def format_ok(self) -> bool:
        """True iff both tags are present and closed, the three sections are present, nothing fatal."""
        if self.think is None or self.answer is None:
            return False
        if self.planning is None or self.grounding is None or self.synthesis is None:
            return False
        return not any(p.lower().startswith(FATAL_PROBLEMS) for p in self.problems)

    @property
    def grounded(self) -> tuple[Evidence, ...]:
        """The evidence of the Grounding section when it cites any box, else all evidence in ``<think>``.

        Boxes restated in Planning or Synthesis are then not counted twice.
        """
        in_grounding = tuple(e for e in self.evidence if e.section == "grounding")
        return in_grounding or self.evidence


# ------------------------------------------------------------------------------------------ regexes
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)"
_NUM_RE = re.compile(rf"\s*(?:{_NUM})\s*", re.IGNORECASE)
_BOX4 = re.compile(rf"\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,?\s*", re.IGNORECASE)
# '[' then up to 400 characters that are not brackets or newlines, then an optional ']'. The
# bounded class and the always-matching '\]?' make this linear: no backtracking.
_BRACKET = re.compile(r"\[([^\[\]\n]{0,400})(\]?)")
_TAG = re.compile(r"<\s*(/?)\s*(think|answer)\s*>", re.IGNORECASE)
_SPECIAL = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>")  # chat-template tokens, e.g. <|begin_of_box|>
_JUNK = re.compile("[\x00-\x08\x0e-\x1f\x7f\ufffd\ud800-\udfff]")
_HEADER_WORD = re.compile(r"\b(planning|grounding|synthesis)\b", re.IGNORECASE)
_HEADER_LINE_PREFIX = re.compile(
    r"[\s>#*_\-•+]*(?:(?:step|stage|phase|part)?\s*\d{1,2}\s*[:.)\-]?\s*)?[\s*_]*", re.IGNORECASE
)
_HEADER_AFTER = re.compile(
    r"[ \t]*(?:(?:phase|stage|step|section)\b)?[ \t]*([*_]{0,3})[ \t]*(:|：|[-–—](?=\s))?[ \t]*([*_]{0,3})",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)")
# everything up to the last clause delimiter (greedy .* backtracks at most the prefix length)
_LABEL_CUT = re.compile(r".*(?:[:;,()\[\]{}|\"]|[.!?](?=\s))", re.DOTALL)
_CLAIM_END = re.compile(r"[.!?](?=\s|$)")
_NUMBERING = re.compile(r"^\s*(?:[-*•+]|\(?\d{1,3}[.)]|#\d{1,3})\s+")
_WORD = re.compile(r"#?[^\W_][\w'\-]*")
_JOINER = re.compile(r"[\s,;&]*(?:and|or)?[\s,;&]*")  # between two boxes of one label
_NUMBER_WORD = re.compile(r"#?\d+")
_CLAIM_COLON = re.compile(r"[ \t*_]*:")
_CLAIM_BULLET = re.compile(r"^[\s*_\-•+]+")

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "single": 1,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}
# Words stripped from the end of the text before a box: "a ship located at [..]" -> "a ship".
_LABEL_TAIL = {
    "at", "located", "positioned", "situated", "centered", "centred", "in", "is", "are", "found",
    "seen", "with", "box", "bbox", "bounding", "coordinates", "coords", "coordinate", "position",
    "location", "region", "within", "spanning", "covering", "occupying", "lies", "sits", "visible",
}
# Words after which the noun phrase begins: "I see a ship" -> "ship".
_LABEL_STOP = {
    "a", "an", "the", "this", "that", "these", "those", "another", "each", "every", "some", "any",
    "its", "their", "his", "her", "our", "my", "i", "we", "it", "they", "there", "here", "which",
    "where", "is", "are", "was", "were", "be", "been", "see", "sees", "saw", "find", "finds",
    "found", "detect", "detects", "detected", "identify", "identifies", "identified", "locate",
    "locates", "observe", "observes", "observed", "notice", "noticed", "spot", "spotted", "show",
    "shows", "contains", "contain", "has", "have", "appears", "appear", "of", "for", "with", "near",
    "on", "from", "to", "by", "and", "or", "as", "also", "then", "next", "several", "many",
    "multiple", "first", "second", "third", "last", "final", "other",
} | set(_NUMBER_WORDS) | set(_TENS)


# ------------------------------------------------------------------------------------------ parsing
def parse_trace(text: str, convention: str = "pixel", image_size: ImageSize = (800, 800)) -> Trace:
    """Parse model output into a :class:`Trace`; never raises on any ``str``.

    ``convention`` is the model's box convention (``pixel``, ``norm1000``, ``norm100``, ``norm1``)
    and ``image_size`` the ``(width, height)`` of the image as fed; boxes come back in its pixels.

    >>> t = parse_trace("<think>Planning: find it. Grounding: I see a plane at [100,200,300,400]. "
    ...                 "Synthesis: done.</think><answer>[100,200,300,400]</answer>", "norm1000", (400, 200))
    >>> t.evidence[0].label, t.evidence[0].box, t.answer_boxes
    ('plane', (40.0, 40.0, 120.0, 80.0), ((40.0, 40.0, 120.0, 80.0),))
    >>> parse_trace("<answer>3").problems
    ('missing <think> block', 'unclosed <answer> tag')
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TraceError(f"model output must be text, got {type(text).__name__}; pass the decoded string")
    check_convention(convention)
    size = _check_size(image_size)

    problems: list[str] = []
    work = _SPECIAL.sub("", text)
    if not work.strip():
        return Trace(text=text, problems=("empty output",))

    junk = len(_JUNK.findall(work))
    if junk:
        problems.append(f"binary junk: {junk} control or undecodable characters")

    think, answer = _split_tags(work, problems)
    if answer == "":
        problems.append("empty <answer>")
    rep = _repetition(work, think, answer)
    if rep:
        problems.append(rep)

    spans: list[tuple[int, int, str]] = []
    sections: dict[str, str | None] = dict.fromkeys(_SECTIONS)
    if think is not None:
        sections, spans = _sections(think, problems)

    box_problems: list[str] = []
    rejected: list[str] = []
    evidence: list[Evidence] = []
    if think is not None:
        evidence = _evidence(think, spans, convention, size, box_problems, rejected)
    answer_boxes: list[PixelBox] = []
    if answer is not None:
        raws, snippets = _scan_boxes(answer, box_problems, rejected, where="answer")
        for raw, snippet in zip(raws, snippets):
            box = _to_pixel_box(raw, snippet, convention, size, box_problems, "answer")
            if box is None:
                rejected.append(snippet)
            else:
                answer_boxes.append(box[0])
    if len(box_problems) > _MAX_BOX_PROBLEMS:
        extra = len(box_problems) - _MAX_BOX_PROBLEMS
        box_problems = box_problems[:_MAX_BOX_PROBLEMS] + [f"... and {extra} more box problems"]
    return Trace(
        text=text,
        think=think,
        answer=answer,
        planning=sections["planning"],
        grounding=sections["grounding"],
        synthesis=sections["synthesis"],
        evidence=tuple(evidence),
        answer_boxes=tuple(answer_boxes),
        problems=tuple(problems + box_problems),
        rejected=tuple(rejected),
    )


def _check_size(image_size: Sequence[float]) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise ConfigError(f"image_size must be (width, height), got {image_size!r}") from None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise ConfigError(f"image_size must be two positive numbers (width, height), got {image_size!r}")
    return w, h


def _split_tags(t: str, problems: list[str]) -> tuple[str | None, str | None]:
    """Find the think and answer blocks, leniently; record every tag problem."""
    tags = [(m.start(), m.end(), bool(m.group(1)), m.group(2).lower()) for m in _TAG.finditer(t)]

    def first(name: str, closing: bool, after: int = 0):
        return next((g for g in tags if g[3] == name and g[2] == closing and g[0] >= after), None)

    think: str | None = None
    outer = (0, 0)  # span of the think block including its tags
    closed_think = False
    t_open = first("think", False)
    if t_open is not None:
        t_close = first("think", True, t_open[1])
        if t_close is not None:
            think, outer, closed_think = t[t_open[1]:t_close[0]], (t_open[0], t_close[1]), True
        else:
            a_open = first("answer", False, t_open[1])
            end = a_open[0] if a_open is not None else len(t)
            think, outer = t[t_open[1]:end], (t_open[0], end)
            problems.append("unclosed <think> tag")
    else:
        t_close = first("think", True)
        if t_close is not None:
            think, outer, closed_think = t[:t_close[0]], (0, t_close[1]), True
            problems.append("missing <think> opening tag")
        else:
            problems.append("missing <think> block")
    if sum(1 for g in tags if g[3] == "think" and not g[2]) > 1:
        problems.append("multiple <think> blocks; the first is used")

    answer: str | None = None
    a_end = len(t)
    a_open = first("answer", False, outer[1]) or first("answer", False)
    if a_open is not None:
        a_close = first("answer", True, a_open[1])
        if a_close is not None:
            answer, a_end = t[a_open[1]:a_close[0]], a_close[1]
        else:
            answer = t[a_open[1]:]
            problems.append("unclosed <answer> tag")
        if sum(1 for g in tags if g[3] == "answer" and not g[2]) > 1:
            problems.append("multiple <answer> blocks; the first is used")
        if t[outer[1]:a_open[0]].strip() and a_open[0] >= outer[1] or t[a_end:].strip():
            problems.append("text outside the <think> and <answer> blocks")
    else:
        a_close = first("answer", True, outer[1])
        if a_close is not None:
            answer = t[outer[1]:a_close[0]]
            problems.append("missing <answer> opening tag")
        elif think is None:
            answer = t
            problems.append("missing <answer> tags; the whole output is taken as the answer")
        elif closed_think and t[outer[1]:].strip():
            answer = t[outer[1]:]
            problems.append("missing <answer> tags; the text after </think> is taken as the answer")
        else:
            problems.append("missing <answer> block")
    if think is not None and t[:outer[0]].strip():
        problems.append("text before <think>")
    return (
        None if think is None else think.strip(),
        None if answer is None else answer.strip(),
    )


def _sections(think: str, problems: list[str]) -> tuple[dict[str, str | None], list[tuple[int, int, str]]]:
    """Split ``think`` at its Planning / Grounding / Synthesis headers.

    Returns each section's text (``None`` if absent; repeated headers are joined) and the
    ``(start, end, name)`` spans of section contents in ``think``.
    """
    headers: list[tuple[int, int, str]] = []
    for m in _HEADER_WORD.finditer(think):
        found = _header_span(think, m)
        if found is not None:
            headers.append((found[0], found[1], m.group(1).lower()))
    spans = []
    for i, (_, end, name) in enumerate(headers):
        stop = headers[i + 1][0] if i + 1 < len(headers) else len(think)
        spans.append((end, stop, name))
    out: dict[str, str | None] = dict.fromkeys(_SECTIONS)
    for start, stop, name in spans:
        body = think[start:stop].strip()
        out[name] = body if out[name] is None else f"{out[name]}\n{body}"
    names = [h[2] for h in headers]
    for name in _SECTIONS:
        if name not in names:
            problems.append(f"missing {name.capitalize()} section")
        elif names.count(name) > 1:
            problems.append(f"repeated {name.capitalize()} header")
    firsts = [names.index(n) for n in _SECTIONS if n in names]
    if firsts != sorted(firsts):
        problems.append("sections out of order (expected Planning, Grounding, Synthesis)")
    return out, spans


def _header_span(s: str, m: re.Match) -> tuple[int, int] | None:
    """``(start, end)`` of the header if the keyword at ``m`` is a section header, else None.

    A header is the keyword followed by a colon anywhere, or, at the start of a line (after
    markdown or numbering, which then belong to the header), the keyword followed by a spaced dash,
    in bold, or alone on its line.
    """
    after = _HEADER_AFTER.match(s, m.end())
    bold, sep = after.group(1), after.group(2)
    lo = max(0, m.start() - 60)
    nl = s.rfind("\n", lo, m.start())
    if nl >= 0 or lo == 0:
        line_start = nl + 1
        at_line_start = bool(_HEADER_LINE_PREFIX.fullmatch(s, line_start, m.start()))
    else:
        line_start, at_line_start = m.start(), False
    if sep in (":", "：") and not at_line_start:
        return m.start(), after.end()
    if not at_line_start:
        return None
    opened_bold = line_start < m.start() and not s[max(line_start, m.start() - 2):m.start()].strip("*_")
    if sep or bold or opened_bold:
        return line_start, after.end()
    rest = s[after.end():after.end() + 1]
    return (line_start, after.end()) if rest in ("", "\n", "\r") else None


# --------------------------------------------------------------------------------------------- boxes
def _scan_boxes(
    s: str, problems: list[str], rejected: list[str], where: str = "think", spans: list | None = None
) -> tuple[list[tuple[float, ...]], list[str]]:
    """Every 4-number list ``[..]`` in ``s`` (raw values) and its text; record malformed ones.

    When ``spans`` is a list, the ``(start, end)`` of each box is appended to it.
    """
    raws: list[tuple[float, ...]] = []
    texts: list[str] = []
    seen = 0
    for m in _BRACKET.finditer(s):
        if seen >= MAX_BOXES:
            problems.append(f"{where}: more than {MAX_BOXES} box-like lists; the rest are ignored")
            break
        content = m.group(1)
        if not content or content.isspace():
            continue
        seen += 1
        box = _BOX4.fullmatch(content) if m.group(2) else None
        if box is not None:
            raws.append((float(box[1]), float(box[2]), float(box[3]), float(box[4])))
            texts.append(m.group(0))
            if spans is not None:
                spans.append(m.span())
            continue
        parts = content.split(",")
        if m.group(2):
            if len(parts) > 1 and not parts[-1].strip():
                parts = parts[:-1]  # a trailing comma
            # not a list of 2+ numbers: prose, a placeholder like [x1,y1,x2,y2], a citation [1]
            if len(parts) >= 2 and all(_NUM_RE.fullmatch(p) for p in parts):
                problems.append(f"{where}: {_short(m.group(0))} has {len(parts)} numbers, not 4; ignored")
                rejected.append(m.group(0))
        elif parts[0].strip() and _NUM_RE.fullmatch(parts[0]):
            problems.append(f"{where}: incomplete box {_short(m.group(0))}; ignored")
            rejected.append(m.group(0))
    return raws, texts


def box_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` character spans of every well-formed 4-number box ``[a, b, c, d]`` in ``text``.

    Boxes anywhere count (trace and answer; ``[[..], [..]]`` gives one span per inner box); lists of
    another length, placeholders and prose in brackets do not. There is no :data:`MAX_BOXES` limit.

    >>> t = "1. ship [10,20,30,40]: moored. <answer>[[1, 2, 3, 4], [5,6,7,8]]</answer> see [1]"
    >>> [t[a:b] for a, b in box_spans(t)]
    ['[10,20,30,40]', '[1, 2, 3, 4]', '[5,6,7,8]']
    """
    return [m.span() for m in _BRACKET.finditer(text) if m.group(2) and _BOX4.fullmatch(m.group(1))]


def _to_pixel_box(
    raw: tuple[float, ...], text: str, convention: str, size: tuple[float, float], problems: list[str], where: str
) -> tuple[PixelBox, bool] | None:
    """Convert, order and clip one box: ``(box, clipped)``, or ``None`` for a non-finite value."""
    if not all(map(math.isfinite, raw)):
        problems.append(f"{where}: non-finite value in box {_short(text)}; ignored")
        return None
    x1, y1, x2, y2 = to_pixels(raw, convention, size)
    if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
        problems.append(f"{where}: box {_short(text)} overflows when converted to pixels; ignored")
        return None
    if x1 > x2 or y1 > y2:
        problems.append(f"{where}: reversed corners in {_short(text)}; reordered")
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
    w, h = size
    tol = _OUTSIDE_TOLERANCE
    outside = x1 < -tol or y1 < -tol or x2 > w + tol or y2 > h + tol
    box = (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))
    if outside:
        what = "lies outside" if box[2] <= box[0] or box[3] <= box[1] else "extends outside"
        tail = "; clipped to zero area" if what == "lies outside" else "; clipped"
        problems.append(f"{where}: box {_short(text)} {what} the {w:g}x{h:g} image{tail}")
    elif box[2] <= box[0] or box[3] <= box[1]:
        problems.append(f"{where}: zero-area box {_short(text)}")
    return box, outside


def _short(s: str, n: int = 40) -> str:
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[: n - 3] + "..."


def _evidence(
    think: str, spans: list[tuple[int, int, str]], convention: str, size: tuple[float, float],
    problems: list[str], rejected: list[str],
) -> list[Evidence]:
    positions: list[tuple[int, int]] = []
    raws, snippets = _scan_boxes(think, problems, rejected, "think", positions)
    out: list[Evidence] = []
    prev_end, prev_label = -1, ""
    for i, (raw, snippet, (start, end)) in enumerate(zip(raws, snippets, positions)):
        next_start = positions[i + 1][0] if i + 1 < len(positions) else None
        ls, le = _line_bounds(think, start, end)
        gap_from = max(ls, prev_end, start - _LABEL_CONTEXT)
        label = _label(think[gap_from:start])
        if not label and prev_end >= ls and _JOINER.fullmatch(think, prev_end, start):
            label = prev_label  # "two ships at [..] and [..]"
        span = next(((a, name) for a, b, name in spans if a <= start < b), (0, "think"))
        claim = _claim(think, start, end, max(ls, span[0]), le, next_start)
        converted = _to_pixel_box(raw, snippet, convention, size, problems, "think")
        prev_end, prev_label = end, label
        if converted is None:
            rejected.append(think[start:end])
            continue
        out.append(Evidence(label, claim, converted[0], raw, span[1], converted[1]))
    return out


def _line_bounds(s: str, start: int, end: int) -> tuple[int, int]:
    lo = max(0, start - _CONTEXT)
    nl = s.rfind("\n", lo, start)
    ls = nl + 1 if nl >= 0 else lo
    hi = min(len(s), end + _CONTEXT)
    nl = s.find("\n", end, hi)
    le = nl if nl >= 0 else hi
    return ls, le


@functools.lru_cache(maxsize=512)
def _label(prefix: str) -> str:
    """The noun phrase that ends ``prefix`` (the text before a box), lower-cased."""
    p = prefix.rstrip(" \t*_:;,=(-–—>\"'`")
    m = _LABEL_CUT.match(p)
    p = _NUMBERING.sub("", p[m.end():] if m else p)
    words = [w.lower() for w in _WORD.findall(p)]
    while words and words[-1] in _LABEL_TAIL:
        words.pop()
    stops = [i for i, w in enumerate(words) if w in _LABEL_STOP]
    if stops:
        words = words[stops[-1] + 1:]
    words = words[-4:]
    while words and _NUMBER_WORD.fullmatch(words[-1]):
        words.pop()
    return " ".join(w.strip("'-") for w in words).strip()


def _claim(s: str, start: int, end: int, ls: int, le: int, next_start: int | None) -> str:
    """The claim a box supports: the text after ``box:`` on its line, else its sentence."""
    m = _CLAIM_COLON.match(s, end, le)
    if m and (next_start is None or next_start >= le):
        claim = s[m.end():le].strip()  # m.end() is a position in s
        if claim:
            return claim
    ss = ls
    for sm in _SENTENCE_END.finditer(s, ls, start):
        ss = sm.end()
    sm = _CLAIM_END.search(s, end, le)
    se = sm.end() if sm else le
    return _CLAIM_BULLET.sub("", s[ss:se].strip())


# ----------------------------------------------------------------------------------------- answers
def parse_answer_boxes(answer: str | None) -> list[tuple[float, float, float, float]]:
    """Every ``[x1,y1,x2,y2]`` in an answer, as written (model convention), in order.

    Reads a detection answer ``[[..],[..]]`` (optionally after a label, ``ship: [[..]]``), a single
    grounding box, or ``[]``; lists of another length and half-written boxes are skipped.

    >>> parse_answer_boxes("ship: [[1,2,3,4], [5, 6, 7.5, 8]]")
    [(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.5, 8.0)]
    >>> parse_answer_boxes("[]"), parse_answer_boxes(None), parse_answer_boxes("[1,2,3]")
    ([], [], [])
    """
    if not isinstance(answer, str):
        return []
    raws, _ = _scan_boxes(answer, [], [])
    return [r for r in raws if all(math.isfinite(v) for v in r)]  # type: ignore[misc]


_COUNT_TOKEN = re.compile(r"(-?)(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)|([a-z]+)")
_ZERO = re.compile(r"\b(?:none|no|nothing|zero|neither|nil)\b")


def parse_count(answer: str | None) -> int | None:
    """The count an answer states, or ``None``.

    Digits or number words (zero to ninety-nine, and hundreds); the first number wins; ``none`` /
    ``no ships`` mean 0; boxes in the answer are ignored.

    >>> parse_count("There are 3 ships."), parse_count("twenty-one"), parse_count("No ships.")
    (3, 21, 0)
    >>> parse_count("many"), parse_count("2.5")
    (None, None)
    """
    if not isinstance(answer, str):
        return None
    s = _BRACKET.sub(" ", answer[:2000].lower())
    tokens = list(_COUNT_TOKEN.finditer(s))
    i = 0
    while i < len(tokens):
        m = tokens[i]
        if m.group(2):
            digits = m.group(2).replace(",", "")
            if m.group(1) or len(digits) > 12:
                return None
            value = float(digits)
            return int(value) if value == int(value) else None
        word = m.group(3)
        if word in _NUMBER_WORDS or word in _TENS or word == "hundred":
            total, current = 0, 0
            while i < len(tokens) and tokens[i].group(3):
                w = tokens[i].group(3)
                if w in _NUMBER_WORDS:
                    current += _NUMBER_WORDS[w]
                elif w in _TENS:
                    current += _TENS[w]
                elif w == "hundred":
                    current = max(current, 1) * 100
                elif w == "thousand":
                    total, current = total + max(current, 1) * 1000, 0
                elif w != "and":
                    break
                i += 1
            return total + current
        i += 1
    return 0 if _ZERO.search(s) else None


# -------------------------------------------------------------------------------------- repetition
_TAIL_STRIP = " \t\r\n]})>.!?;,\"'`"


def _repetition(text: str, think: str | None, answer: str | None) -> str | None:
    """A short description of a repetition loop, or None.

    Checks, all linear: a run of 4 or more identical non-empty lines anywhere, and a periodic
    tail (a unit of 1-200 characters repeated to cover at least 60 characters and 3 periods) at
    the end of the output, of ``<think>``, of ``<answer>`` or of a long line (the first 32).
    """
    run, last, long_lines = 0, None, 0
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        run = run + 1 if line == last else 1
        last = line
        if run >= 4:
            return f"repetition: the line {_short(line)!r} repeats 4+ times"
        if len(line) >= 300 and long_lines < 32:  # a loop inside a line the model later left
            long_lines += 1
            found = _periodic_tail(line, window=2000)
            if found:
                return f"repetition: {_short(found[0])!r} repeated {found[1]} times in a line"
    for part in (text, think, answer):
        if part:
            found = _periodic_tail(part)
            if found:
                unit, times = found
                return f"repetition: {_short(unit)!r} repeated {times} times at the end"
    return None


def _periodic_tail(s: str, max_period: int = 200, window: int = 4000) -> tuple[str, int] | None:
    s = s.rstrip()[-window:]
    end = len(s)
    while end > len(s) - 3 and end and s[end - 1] in _TAIL_STRIP:
        end -= 1  # a closing bracket or full stop after the loop: "[a],[a],[a]]"
    s = s[:end]
    n = len(s)
    for p in range(1, min(max_period, n // 3) + 1):
        if s[-1] != s[-1 - p]:
            continue
        lo, hi = 1, n - p  # largest L with s[n-L:] == s[n-L-p:n-p] (monotone in L)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if s[n - mid:] == s[n - mid - p:n - p]:
                lo = mid
            else:
                hi = mid - 1
        span = lo + p
        if span >= max(60, 3 * p):
            return s[n - p:], span // p
    return None
