"""Geo-CoT training data: one sample schema, readers of the field's formats, patch splitting,
synthetic scenes and ground-truth-constrained trace backfill.

::

    dataset (DOTA, VOC/DIOR, RESISC45, RSICD, VRSBench, COCO)  --read_dataset-->  [Sample]
    large images  --split_dataset-->  patches + samples.jsonl
    synthesize(OUT)  -->  scene_*.tif + ground_truth.jsonl
    [Sample]  --backfill-->  sft.jsonl (traces) + sft.nocot.jsonl + sft.rl.jsonl

>>> sorted(FORMATS)
['captions', 'coco', 'dota', 'geocot', 'resisc', 'voc', 'vrsbench']
"""

from __future__ import annotations

from .backfill import BackfillOptions, BackfillReport, BackfillResult, backfill, backfill_samples, writer_prompt
from .readers import FORMAT_TASKS, FORMATS, OBJECT_FORMATS, read_dataset, read_objects
from .schema import Sample, load_samples, write_samples
from .split import SplitOptions, SplitReport, patch_windows, split_dataset, split_image
from .synth import OBJECT_CLASSES, SCENE_CLASSES, SynthOptions, SynthReport, render_scene, synthesize
from .tasks import ImageObjects, label_words, object_samples
from .templates import answer_text, evidence, nocot_trace, template_trace
from .verify import Verdict, match_count, verify_trace

__all__ = sorted([
    "BackfillOptions", "BackfillReport", "BackfillResult", "FORMATS", "FORMAT_TASKS", "ImageObjects",
    "OBJECT_CLASSES", "OBJECT_FORMATS", "SCENE_CLASSES", "Sample", "SplitOptions", "SplitReport",
    "SynthOptions", "SynthReport", "Verdict", "answer_text", "backfill", "backfill_samples", "evidence",
    "label_words", "load_samples", "match_count", "nocot_trace", "object_samples", "patch_windows",
    "read_dataset", "read_objects", "render_scene", "split_dataset", "split_image", "synthesize",
    "template_trace", "verify_trace", "write_samples", "writer_prompt",
])
