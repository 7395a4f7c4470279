"""A zoomable image with what a model found drawn on it (QGraphicsView): boxes and labels,
rotated boxes as polygons, keypoints, and instance or semantic masks as a tinted overlay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPixmap, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QWidget

# distinct, readable colours, one per class id (cycled)
PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
           "#469990", "#808000"]

if TYPE_CHECKING:  # numpy loads when an image does, not at start-up
    import numpy as np


def class_colour(class_id: int) -> QColor:
    return QColor(PALETTE[class_id % len(PALETTE)])


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:


    import numpy as np

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the array may go away


class DetectionCanvas(QGraphicsView):
    """Shows one image; ``show_detections`` redraws the boxes (cheap: a slider moves it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.setMinimumSize(320, 240)
        self._image_item: Any = None
        self._overlay: list[Any] = []
        self._placeholder: Any = self.scene().addText("Drop an image here, or use Open image… / Paste")
        self._placeholder.setDefaultTextColor(QColor("#dddddd"))

    @property
    def box_count(self) -> int:
        return sum(1 for item in self._overlay if item.data(0) == "box")

    @property
    def marks(self) -> list[str]:
        """The labels of the differences marked on the image (``mark``)."""
        return [str(item.data(1)) for item in self._overlay if item.data(0) == "mark"]

    def set_image(self, rgb: np.ndarray) -> None:
        self.scene().clear()
        self._overlay = []
        self._placeholder = None
        self._image_item = self.scene().addPixmap(rgb_to_pixmap(rgb))
        self.scene().setSceneRect(QRectF(0, 0, rgb.shape[1], rgb.shape[0]))
        self.fit()

    def fit(self) -> None:
        if self._image_item is not None:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def _masks(self, detections: list[dict[str, Any]]) -> Any:
        """One translucent overlay with every prediction's mask in its class colour."""
        import numpy as np

        with_masks = [d for d in detections if d.get("mask") is not None]
        if not with_masks:
            return None
        height, width = np.asarray(with_masks[0]["mask"]).shape
        overlay = np.zeros((height, width, 4), dtype=np.uint8)
        for det in with_masks:
            colour = class_colour(int(det["class_id"]))
            overlay[np.asarray(det["mask"], dtype=bool)] = (colour.red(), colour.green(), colour.blue(), 110)
        image = QImage(overlay.data, width, height, 4 * width, QImage.Format.Format_RGBA8888)
        item = self.scene().addPixmap(QPixmap.fromImage(image.copy()))
        item.setData(0, "mask")
        return item

    def show_detections(self, detections: list[dict[str, Any]]) -> None:
        for item in self._overlay:
            self.scene().removeItem(item)
        self._overlay = []
        if self._image_item is None:
            return
        scale = max(self.scene().sceneRect().width(), self.scene().sceneRect().height()) / 640.0
        font = QFont()
        font.setPixelSize(max(10, round(13 * scale)))
        if (masks := self._masks(detections)) is not None:
            self._overlay.append(masks)
        for det in detections:
            x1, y1, x2, y2 = det["bbox"]
            colour = class_colour(int(det["class_id"]))
            pen = QPen(colour, max(1.0, 2.0 * scale))
            pen.setCosmetic(False)
            box: Any
            if "polygon" in det:  # a rotated box: its four corners
                box = self.scene().addPolygon(QPolygonF([QPointF(x, y) for x, y in det["polygon"]]), pen)
            else:
                box = self.scene().addRect(QRectF(x1, y1, x2 - x1, y2 - y1), pen)
            box.setData(0, "box")
            for keypoint in det.get("keypoints", []):
                if len(keypoint) > 2 and keypoint[2] < 0.5:
                    continue  # not visible
                radius = max(2.0, 3.0 * scale)
                dot = self.scene().addEllipse(QRectF(keypoint[0] - radius, keypoint[1] - radius, 2 * radius,
                                                     2 * radius), QPen(Qt.PenStyle.NoPen), QBrush(colour))
                self._overlay.append(dot)
            label = f"{det['class_name']} {det['confidence']:.2f}"
            if "area" in det:  # a semantic segment: its share of the image
                label += f" · {det['area']:.0%}"
            text = QGraphicsSimpleTextItem(label)
            text.setFont(font)
            text.setBrush(QBrush(QColor("white")))
            bounds = text.boundingRect()
            top = y1 - bounds.height() if y1 - bounds.height() >= 0 else y1
            background = self.scene().addRect(QRectF(x1, top, bounds.width() + 4, bounds.height()),
                                              QPen(Qt.PenStyle.NoPen), QBrush(colour))
            text.setPos(x1 + 2, top)
            self.scene().addItem(text)
            self._overlay += [box, background, text]

    def mark(self, marks: list[tuple[list[float], str, str]]) -> None:
        """Outline places where a comparison found a difference: (xyxy box, label, colour),
        dashed, over what ``show_detections`` drew (call it after that)."""
        if self._image_item is None:
            return
        scale = max(self.scene().sceneRect().width(), self.scene().sceneRect().height()) / 640.0
        font = QFont()
        font.setPixelSize(max(10, round(13 * scale)))
        for (x1, y1, x2, y2), label, colour in marks:
            pen = QPen(QColor(colour), max(1.5, 3.0 * scale), Qt.PenStyle.DashLine)
            outline = self.scene().addRect(QRectF(x1, y1, x2 - x1, y2 - y1), pen)
            outline.setData(0, "mark")
            outline.setData(1, label)
            text = QGraphicsSimpleTextItem(label)
            text.setFont(font)
            text.setBrush(QBrush(QColor(colour)))
            text.setPos(x1 + 2, min(y2 + 1, self.scene().sceneRect().height() - text.boundingRect().height()))
            self.scene().addItem(text)
            self._overlay += [outline, text]

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.scale(factor, factor)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit()
