"""Pascal VOC XML reader (DIOR; DIOR-RSVG referring expressions in ``<description>``).

One XML per image::

    <annotation><filename>00001.jpg</filename><size><width>800</width><height>800</height></size>
      <object><name>ship</name><difficult>0</difficult>
        <bndbox><xmin>10</xmin><ymin>20</ymin><xmax>40</xmax><ymax>35</ymax></bndbox>
        <description>the ship on the left</description></object></annotation>

A file whose objects carry ``<description>`` (DIOR-RSVG) gives one ``ground`` sample per described
object (the description is the referring expression, its box the target); a file without gives the
detection tasks of :mod:`geocot_cli.data.tasks`. Errors name the file and the line.
"""

from __future__ import annotations

import xml.parsers.expat
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..types import PixelBox
from ._common import find_image, image_size
from .tasks import ImageObjects, label_words

__all__ = ["VocFile", "XmlNode", "parse_xml", "read_voc"]


@dataclass
class XmlNode:
    """A minimal XML element that remembers its line (for error messages)."""

    tag: str
    line: int
    text: str = ""
    children: list[XmlNode] = field(default_factory=list)

    def find(self, tag: str) -> XmlNode | None:
        """First child called ``tag``."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[XmlNode]:
        """All children called ``tag``."""
        return [c for c in self.children if c.tag == tag]


def parse_xml(data: bytes, file: str | Path) -> XmlNode:
    """Parse XML into :class:`XmlNode` trees; malformed XML -> :class:`DataError` with its line.

    >>> parse_xml(b"<a><b>1</b></a>", "x.xml").find("b").text
    '1'
    """
    parser = xml.parsers.expat.ParserCreate()
    stack: list[XmlNode] = []
    root: list[XmlNode] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = XmlNode(tag, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(tag: str) -> None:
        node = stack.pop()
        node.text = node.text.strip()

    def chars(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise DataError(f"{file}:{e.lineno}: malformed XML ({xml.parsers.expat.ErrorString(e.code)})") from None
    return root[0]


def _number(node: XmlNode | None, name: str, file: Path, parent: XmlNode) -> float:
    if node is None:
        raise DataError(f"{file}:{parent.line}: <{parent.tag}> has no <{name}>")
    try:
        return float(node.text)
    except ValueError:
        raise DataError(f"{file}:{node.line}: <{name}> must be a number, got {node.text!r}") from None


@dataclass(frozen=True)
class VocFile:
    """One parsed VOC file: its objects, and its referring expressions (DIOR-RSVG) if any."""

    objects: ImageObjects
    descriptions: tuple[str | None, ...]

    @property
    def referring(self) -> bool:
        """True when the file is a DIOR-RSVG file (objects carry descriptions)."""
        return any(self.descriptions)


def _read_one(path: Path, images: Path, classes: Collection[str] | None, skip_difficult: bool) -> VocFile:
    root = parse_xml(path.read_bytes(), path)
    if root.tag != "annotation":
        raise DataError(f"{path}:{root.line}: root element is <{root.tag}>, expected <annotation>; is it a VOC file?")
    fn = root.find("filename")
    name = fn.text if fn is not None and fn.text else path.stem
    image = find_image(images, name, label_file=path)
    size = root.find("size")
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        w = int(_number(size.find("width"), "width", path, size))
        h = int(_number(size.find("height"), "height", path, size))
        if w <= 0 or h <= 0:
            w, h = image_size(image)
    else:
        w, h = image_size(image)
    boxes: list[PixelBox] = []
    labels: list[str] = []
    flags: list[bool] = []
    descs: list[str | None] = []
    for obj in root.findall("object"):
        nm = obj.find("name")
        if nm is None or not nm.text:
            raise DataError(f"{path}:{obj.line}: <object> has no <name>")
        label = label_words(nm.text)
        bb = obj.find("bndbox")
        if bb is None:
            raise DataError(f"{path}:{obj.line}: <object> has no <bndbox>")
        x1, y1, x2, y2 = (_number(bb.find(k), k, path, bb) for k in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise DataError(f"{path}:{bb.line}: box [{x1},{y1},{x2},{y2}] has xmax < xmin or ymax < ymin")
        d = obj.find("difficult")
        diff = d is not None and d.text.strip() == "1"
        if (classes is not None and label not in classes) or (skip_difficult and diff):
            continue
        box = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        boxes.append(box)
        labels.append(label)
        flags.append(diff)
        desc = obj.find("description")
        descs.append(desc.text if desc is not None and desc.text else None)
    objs = ImageObjects(image, (w, h), tuple(boxes), tuple(labels), tuple(flags),
                        {"source": "voc", "label_file": path.name})
    return VocFile(objs, tuple(descs))


def default_images(labels: Path) -> Path:
    """VOC's layout: ``root/Annotations/*.xml`` next to ``root/JPEGImages/``."""
    folder = labels if labels.is_dir() else labels.parent
    return folder.parent / "JPEGImages"


def read_voc(
    labels: Path,
    images: Path | None = None,
    *,
    classes: Collection[str] | None = None,
    skip_difficult: bool = False,
) -> list[VocFile]:
    """Read a folder of VOC XML files (or one file) with their images (default ``../JPEGImages``)."""
    labels = Path(labels)
    files = sorted(labels.glob("*.xml")) if labels.is_dir() else [labels]
    if not files or not files[0].is_file():
        raise DataError(f"no VOC XML files at {labels}; pass the Annotations folder with --labels")
    images = Path(images) if images else default_images(labels)
    return [_read_one(f, images, classes, skip_difficult) for f in files]
