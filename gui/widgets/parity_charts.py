"""The parity report's two charts, drawn with QPainter: the error along the network, layer
by layer on a log scale with the first divergent layer marked and named, and the agreement
image by image. Each keeps what it draws as plain data (``points``, ``first``, ``bars``)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

LINE, BAD, GOOD, MARK, GRID = "#5b8def", "#d62728", "#2ca02c", "#e69500", "#c8c8c8"
FLOOR = 1e-9  # values at or below it are drawn on the chart's floor (log scale)
LEFT, RIGHT, CENTRE = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight, Qt.AlignmentFlag.AlignHCenter
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 12, 26, 30


@dataclass(frozen=True)
class LayerPoint:
    module: str
    kind: str
    value: float  # what is plotted (see LayerErrorChart.measure)
    diverged: bool


def layer_points(layers: dict[str, Any]) -> tuple[str, list[LayerPoint], int | None]:
    """(metric name, one point per compared layer in network order, index of the first divergent).

    With a tolerance per layer the chart plots max abs diff ÷ tolerance, so the limit is 1 for
    every layer; without one (INT8) the largest relative error."""
    rows = [r for r in layers.get("layers") or [] if r.get("max_abs_diff") is not None]
    with_tolerance = bool(rows) and all(r.get("tolerance") for r in rows)
    metric = "max abs diff ÷ tolerance" if with_tolerance else "max relative error"
    points = [LayerPoint(str(r["module"]), str(r.get("type", "")),
                         float(r["max_abs_diff"]) / float(r["tolerance"]) if with_tolerance
                         else float(r.get("max_rel_diff") or 0.0), bool(r.get("diverged")))
              for r in rows]
    first = layers.get("first_divergent") or {}
    index = next((i for i, p in enumerate(points) if p.module == first.get("module")), None)
    return metric, points, index


def image_bars(report: dict[str, Any]) -> tuple[str, list[tuple[str, float]]]:
    """(metric, (image, share agreed) per image) from the task agreement: its ``per_image``
    counts, or, in older reports, the image names and which of them disagreed."""
    task = report.get("task_agreement") or {}
    metric = str(task.get("metric", "agreement"))
    if per_image := task.get("per_image"):
        return metric, [(str(p["image"]), p["agreed"] / p["total"] if p["total"] else 0.0) for p in per_image]
    names = report.get("image_names") or []
    disagreeing = set(task.get("images_disagreeing") or [])
    return metric, [(str(n), 0.0 if n in disagreeing else 1.0) for n in names]


class _Chart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.title = ""

    def plot_area(self) -> QRectF:
        return QRectF(MARGIN_LEFT, MARGIN_TOP, max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
                      max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM))

    def _frame(self, painter: QPainter) -> QRectF:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        text = self.palette().text().color()
        painter.setPen(text)
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(QRectF(6, 2, self.width() - 12, MARGIN_TOP - 4), Qt.AlignmentFlag.AlignVCenter,
                         self.title)
        painter.setFont(self.font())
        area = self.plot_area()
        painter.setPen(QPen(text, 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        painter.drawLine(area.bottomLeft(), area.topLeft())
        return area


class LayerErrorChart(_Chart):
    """The error of every compared layer in network order (log scale); the limit drawn as a
    line, diverged layers in red, the first divergent one marked by a vertical line and named."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.measure = ""
        self.points: list[LayerPoint] = []
        self.first: int | None = None
        self.limit: float | None = None

    @property
    def first_module(self) -> str | None:
        return self.points[self.first].module if self.first is not None else None

    def set_layers(self, layers: dict[str, Any] | None) -> None:
        self.measure, self.points, self.first = layer_points(layers or {})
        self.limit = 1.0 if self.measure.endswith("tolerance") else None
        self.title = f"Per-layer error along the network ({self.measure}, log scale)"
        self.setVisible(bool(self.points))
        self.update()

    def decades(self) -> tuple[int, int]:
        values = [max(p.value, FLOOR) for p in self.points] + ([self.limit] if self.limit else [])
        low = math.floor(math.log10(min(values))) if values else -6
        high = math.ceil(math.log10(max(values))) if values else 0
        return low, max(high, low + 1)

    def position(self, index: int, value: float) -> QPointF:
        area = self.plot_area()
        low, high = self.decades()
        x = area.left() + area.width() * (index + 0.5) / max(1, len(self.points))
        y = area.bottom() - area.height() * (math.log10(max(value, FLOOR)) - low) / (high - low)
        return QPointF(x, y)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        area = self._frame(painter)
        low, high = self.decades()
        text = self.palette().text().color()
        for decade in range(low, high + 1):
            y = self.position(0, 10.0 ** decade).y()
            painter.setPen(QPen(QColor(GRID), 1, Qt.PenStyle.DotLine))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 8, MARGIN_LEFT - 4, 16), RIGHT, f"1e{decade}")
        if self.limit is not None:
            y = self.position(0, self.limit).y()
            painter.setPen(QPen(QColor(BAD), 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.drawText(QRectF(area.left() + 4, y - 16, 120, 14), LEFT, "tolerance")
        positions = [self.position(i, p.value) for i, p in enumerate(self.points)]
        painter.setPen(QPen(QColor(LINE), 1.5))
        for a, b in itertools.pairwise(positions):
            painter.drawLine(a, b)
        radius = 2.5 if len(self.points) > 80 else 3.5
        for point, where in zip(self.points, positions, strict=True):
            colour = QColor(BAD if point.diverged else LINE)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawEllipse(where, radius, radius)
        if self.first is not None:
            where = positions[self.first]
            painter.setPen(QPen(QColor(MARK), 2))
            painter.drawLine(QPointF(where.x(), area.top()), QPointF(where.x(), area.bottom()))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(where, radius + 3, radius + 3)
            label = f"first divergent: {self.points[self.first].module}"
            width = painter.fontMetrics().horizontalAdvance(label) + 8
            left = where.x() + 6 if where.x() + 6 + width <= area.right() else where.x() - 6 - width
            box = QRectF(left, area.top() + 2, width, 16)
            backing = QColor(self.palette().base().color())
            backing.setAlpha(220)
            painter.fillRect(box, backing)
            painter.setPen(text)
            painter.drawText(box, LEFT, label)
        painter.setPen(text)
        painter.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 20), CENTRE,
                         f"{len(self.points)} layers, input → output")
        painter.end()

    def index_at(self, x: float) -> int | None:
        area = self.plot_area()
        if not self.points or not area.left() <= x <= area.right():
            return None
        return min(len(self.points) - 1, int((x - area.left()) / area.width() * len(self.points)))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(event.position().x())
        if index is not None:
            point = self.points[index]
            QToolTip.showText(event.globalPosition().toPoint(),
                              f"{point.module} ({point.kind})\n{self.measure}: {point.value:.3g}", self)


class AgreementChart(_Chart):
    """The task agreement image by image: one bar per image, red where it fell short."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(130)
        self.measure = ""
        self.bars: list[tuple[str, float]] = []

    def set_report(self, report: dict[str, Any] | None) -> None:
        self.measure, self.bars = image_bars(report or {})
        short = sum(1 for _, v in self.bars if v < 1.0)
        self.title = (f"Per-image agreement ({self.measure}): {len(self.bars) - short}/{len(self.bars)} "
                      "images agree")
        self.setVisible(bool(self.bars))
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        area = self._frame(painter)
        text = self.palette().text().color()
        for share in (0.5, 1.0):
            y = area.bottom() - area.height() * share
            painter.setPen(QPen(QColor(GRID), 1, Qt.PenStyle.DotLine))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 8, MARGIN_LEFT - 4, 16), RIGHT, f"{share:.0%}")
        step = area.width() / max(1, len(self.bars))
        painter.setPen(Qt.PenStyle.NoPen)
        for i, (_, share) in enumerate(self.bars):
            height = max(2.0, area.height() * share)
            painter.setBrush(QColor(GOOD if share >= 1.0 else BAD))
            painter.drawRect(QRectF(area.left() + i * step + step * 0.15, area.bottom() - height,
                                    max(1.0, step * 0.7), height))
        painter.setPen(text)
        painter.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 20), CENTRE,
                         f"{len(self.bars)} images")
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        area = self.plot_area()
        if self.bars and area.left() <= event.position().x() <= area.right():
            index = min(len(self.bars) - 1, int((event.position().x() - area.left()) / area.width()
                                                 * len(self.bars)))
            name, share = self.bars[index]
            QToolTip.showText(event.globalPosition().toPoint(), f"{name}: {share:.0%}", self)
