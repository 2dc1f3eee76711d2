"""What a model's task reads and writes: input modality, accepted case editions, output names,
grand-challenge sockets and whether it grades Koos, per label map (platform contracts)::

    crossmoda2022:  <case>_hrT2.nii.gz -> <case>_Label.nii.gz (1 VS, 2 cochlea) + Koos CSV
                    grand-challenge: images/hrt2-mri/*.mha -> images/vs-cochlea-segmentation/output.mha
    crossmoda2023:  <case>_T2.nii.gz   -> <case>.nii.gz (1 extra-, 2 intra-meatal VS, 3 cochlea)
                    grand-challenge: images/t2-mri/*.mha   -> images/vs-cochlea-segmentation/output.mha
                    (the 2023 task has no Koos grading)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crossmoda.core.cases import CaseFile
from crossmoda.core.labels import LABELS_2022, LABELS_2023, LabelMap

__all__ = ["TaskLayout", "LAYOUT_2022", "LAYOUT_2023", "TASK_LAYOUTS", "layout_for"]


@dataclass(frozen=True)
class TaskLayout:
    """File conventions of one crossMoDA task.

    Attributes:
        labels: The label map written.
        modality: Input file suffix (``hrT2`` or ``T2``).
        editions: Case-name editions accepted (``None``: the 2021 test form ``crossmoda_12``).
        output_suffix: Output file suffix (``_Label`` or nothing).
        koos: Whether the task grades Koos (a predictions CSV and ``koos-grade.json``).
        gc_input_slug: Grand-challenge input socket.
        gc_output_slug: Grand-challenge output socket.
    """

    labels: LabelMap
    modality: str
    editions: tuple[int | None, ...]
    output_suffix: str
    koos: bool
    gc_input_slug: str
    gc_output_slug: str

    @property
    def task(self) -> str:
        """Short description for messages, e.g. ``crossmoda2023 (T2 in, labels 1-3 out)``."""
        values = sorted(self.labels.labels)
        return f"{self.labels.name} ({self.modality} in, labels {values[0]}-{values[-1]} out)"

    def output_name(self, case: str) -> str:
        """Output file name of ``case``."""
        return f"{case}{self.output_suffix}.nii.gz"

    def case_problem(self, parsed: CaseFile) -> str | None:
        """Why a case image cannot be predicted by a model of this task (``None``: it can)."""
        if parsed.modality != self.modality:
            other = next((t for t in TASK_LAYOUTS.values() if t.modality == parsed.modality), None)
            if other is None:
                return None
            return (f"a {parsed.modality} image is an input of the {other.labels.name} task, but the "
                    f"model predicts {self.task}; use a {other.labels.name} model")
        if parsed.case.edition not in self.editions:
            return (f"case {parsed.case} is a {parsed.case.edition or 'crossMoDA 2021'} case name, but "
                    f"the model predicts {self.task} for "
                    + ", ".join(f"crossmoda{e}_*" if e else "crossmoda_*" for e in self.editions)
                    + " cases")
        return None

    def gc_problem(self, slug: str, image: Path) -> str | None:
        """Why a grand-challenge input socket cannot be predicted by this task's model."""
        if slug == self.gc_input_slug:
            return None
        other = next((t for t in TASK_LAYOUTS.values() if t.gc_input_slug == slug), None)
        task = f"of the {other.labels.name} task " if other else ""
        return (f"input socket {slug!r} ({image.name}) is {task}not {self.gc_input_slug!r}: "
                f"the model predicts {self.task}")


LAYOUT_2022 = TaskLayout(LABELS_2022, "hrT2", (2021, 2022, None), "_Label", True,
                         "hrt2-mri", "vs-cochlea-segmentation")
LAYOUT_2023 = TaskLayout(LABELS_2023, "T2", (2023,), "", False, "t2-mri", "vs-cochlea-segmentation")
TASK_LAYOUTS: dict[str, TaskLayout] = {t.labels.name: t for t in (LAYOUT_2022, LAYOUT_2023)}


def layout_for(label_map: str) -> TaskLayout:
    """The task layout of a model's label map."""
    try:
        return TASK_LAYOUTS[label_map]
    except KeyError:
        known = sorted(TASK_LAYOUTS)
        raise ValueError(f"no task layout for label map {label_map!r}; known: {known}") from None
