"""One model's answer in the Compare view: its boxes or masks on the image (or its top-k),
a caption with latency, size and error, and the differences from the original marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFrame, QLabel, QStackedWidget, QVBoxLayout, QWidget

from gui.widgets.detection_canvas import DetectionCanvas
from gui.widgets.topk_bars import TopKBars

if TYPE_CHECKING:
    import numpy as np

    from core.compare import ImageComparison

# colours of the differences: drawn dashed on the export's image, and the panel's frame
MARK_COLOURS = {"missing": "#d62728", "moved": "#ff7f0e", "relabelled": "#9467bd", "extra": "#1f77b4"}
DIFFERS, AGREES, FAILED = "#d62728", "#2ca02c", "#7f7f7f"


def difference_marks(comparison: ImageComparison) -> list[tuple[list[float], str, str]]:
    """Where to outline a difference: a missing box where the original had it, the others
    where the export put them."""
    marks = []
    for box in comparison.boxes:
        if box.status == "same":
            continue
        where = box.original if box.status == "missing" else box.exported
        assert where is not None
        label = box.status
        if box.status == "relabelled" and box.original is not None:
            label = f"was {box.original['class_name']}"
        elif box.status == "moved":
            label = f"moved (IoU {box.iou:.2f})"
        marks.append(([float(v) for v in where["bbox"]], label, MARK_COLOURS[box.status]))
    return marks


class ComparePanel(QFrame):
    """A titled result: ``show_image`` once per image, then ``show_result`` when the run ends."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("comparePanel")
        self.setFrameShape(QFrame.Shape.Box)
        self.setMinimumWidth(300)
        self.title = QLabel(f"<b>{title}</b>")
        self.canvas = DetectionCanvas()
        self.canvas.setMinimumSize(280, 220)
        self.topk = TopKBars()
        self.view = QStackedWidget()
        self.view.addWidget(self.canvas)
        self.view.addWidget(self.topk)
        self.caption = QLabel("waiting…")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        self.state = "waiting"
        self.shown: list[dict[str, Any]] = []

    def show_image(self, rgb: np.ndarray) -> None:
        self.canvas.set_image(rgb)
        self.topk.show_classes([])
        self.shown = []
        self.set_state("waiting", "running…")

    def show_result(self, task: str, predictions: list[dict[str, Any]], caption: str,
                    comparison: ImageComparison | None = None) -> None:
        self.shown = predictions
        if task == "classify":
            self.view.setCurrentWidget(self.topk)
            self.topk.show_classes(predictions)
        else:
            self.view.setCurrentWidget(self.canvas)
            self.canvas.show_detections(predictions)
            if comparison is not None:
                self.canvas.mark(difference_marks(comparison))
        if comparison is None:
            self.set_state("original", caption)
            return
        differences = comparison.differences
        if differences:
            caption += f"<br><span style='color:{DIFFERS}'><b>{'; '.join(differences)}</b></span>"
        self.set_state("differs" if differences else "agrees", caption)

    def set_state(self, state: str, caption: str) -> None:
        """waiting | original | agrees | differs | failed: the frame's colour says which."""
        self.state = state
        self.caption.setText(caption)
        colour = {"differs": DIFFERS, "agrees": AGREES, "failed": FAILED}.get(state)
        self.setStyleSheet(f"#comparePanel {{ border: 2px solid {colour}; }}" if colour else "")
