"""The scene classes ``classify`` answers with when no ``--classes`` are given.

A model asked "what kind of scene is this?" answers in its own words: a class name, but also
"yes", "3 5 10 9" or a paragraph. Without a closed label set those words would each become a class
of the area table. So an open ``classify`` maps every answer into :data:`SCENE_CLASSES` with the
same matcher as a closed set (:func:`~geocot_cli.questions.map_label`: same words, a class named
inside the answer, the closest spelling), and an answer that names none of them is ``unknown``
(the cell keeps the model's own words in ``answer``).

:data:`SCENE_CLASSES` is the union of the scene classes of NWPU-RESISC45 (45 classes, the paper's
classification benchmark), AID (30 classes) and geocot's own synthetic scenes (``tank farm``), with
AID's names for the same thing folded into RESISC45's (:data:`ALIASES`: port -> harbor, ...).

>>> scene_class("Harbour."), scene_class("This is a dense residential area."), scene_class("yes")
('harbor', 'dense residential', 'unknown')
>>> scene_class("3 5 10 9"), scene_class("port"), scene_class("forest", ["airport", "harbor"])
('unknown', 'harbor', 'unknown')
"""

from __future__ import annotations

from collections.abc import Sequence

from .questions import map_label

__all__ = ["AID", "ALIASES", "RESISC45", "SCENE_CLASSES", "scene_class"]

#: NWPU-RESISC45 (Cheng et al. 2017), its folder names with spaces.
RESISC45: tuple[str, ...] = (
    "airplane", "airport", "baseball diamond", "basketball court", "beach", "bridge", "chaparral",
    "church", "circular farmland", "cloud", "commercial area", "dense residential", "desert", "forest",
    "freeway", "golf course", "ground track field", "harbor", "industrial area", "intersection", "island",
    "lake", "meadow", "medium residential", "mobile home park", "mountain", "overpass", "palace",
    "parking lot", "railway", "railway station", "rectangular farmland", "river", "roundabout", "runway",
    "sea ice", "ship", "snowberg", "sparse residential", "stadium", "storage tank", "tennis court",
    "terrace", "thermal power station", "wetland",
)

#: AID (Xia et al. 2017), its class names as words.
AID: tuple[str, ...] = (
    "airport", "bare land", "baseball field", "beach", "bridge", "center", "church", "commercial",
    "dense residential", "desert", "farmland", "forest", "industrial", "meadow", "medium residential",
    "mountain", "park", "parking", "playground", "pond", "port", "railway station", "resort", "river",
    "school", "sparse residential", "square", "stadium", "storage tanks", "viaduct",
)

#: An AID name -> the RESISC45 class it names.
ALIASES: dict[str, str] = {
    "baseball field": "baseball diamond", "commercial": "commercial area", "industrial": "industrial area",
    "parking": "parking lot", "port": "harbor", "storage tanks": "storage tank",
}

#: The scene classes of geocot's synthetic training scenes (:mod:`geocot_cli.data.synth`) that the
#: datasets above lack.
SYNTHETIC: tuple[str, ...] = ("tank farm",)

#: Every class an open ``classify`` reports (aliases folded), sorted.
SCENE_CLASSES: tuple[str, ...] = tuple(sorted({ALIASES.get(c, c) for c in RESISC45 + AID + SYNTHETIC}))

_VOCABULARY: tuple[str, ...] = tuple(sorted(set(RESISC45 + AID + SYNTHETIC)))


def scene_class(answer: str | None, classes: Sequence[str] | None = None) -> str:
    """The class a classification answer names: in ``classes`` when given, else in :data:`SCENE_CLASSES`.

    Anything else is ``unknown`` (:data:`~geocot_cli.questions.UNKNOWN`).
    """
    if classes:
        return map_label(answer, classes)
    label = map_label(answer, _VOCABULARY)
    return ALIASES.get(label, label)
