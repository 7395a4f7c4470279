"""A small live chart of an endpoint's traffic: requests and errors per interval, mean latency.

Bars are requests per sample (errors stacked in red on top of the successes),
the line is the mean latency of each interval on its own scale; the caption
says the last interval's numbers. Painted with QPainter; no chart library.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.usage_monitor import UsageSample

OK_COLOUR, ERROR_COLOUR, LATENCY_COLOUR = QColor("#42a5f5"), QColor("#e53935"), QColor("#fb8c00")


class UsageChart(QWidget):
    def __init__(self, slots: int = 60, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slots = slots
        self.samples: list[UsageSample] = []
        self.setMinimumHeight(64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Requests (blue), errors (red) and mean latency (orange line) over the last "
                        "two minutes, live while this page is open")

    def set_samples(self, samples: list[UsageSample]) -> None:
        self.samples = samples[-self.slots:]
        self.update()

    def caption(self) -> str:
        if not self.samples:
            return "live usage: waiting for the first reading"
        last = self.samples[-1]
        latency = f"{last.mean_ms:.1f} ms" if last.mean_ms is not None else "— ms"
        peak = max(s.requests for s in self.samples)
        return f"last {last.requests} req · {last.errors} err · {latency} (peak {peak} req)"

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(2, 16, -2, -2)
        painter.setPen(self.palette().mid().color())
        painter.drawRect(area)
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(4, 0, self.width() - 8, 15), Qt.AlignmentFlag.AlignLeft, self.caption())
        if not self.samples:
            painter.end()
            return
        width = area.width() / self.slots
        start = area.right() - width * len(self.samples)
        peak = max(1, max(s.requests for s in self.samples))
        for index, sample in enumerate(self.samples):
            x = start + index * width
            height = area.height() * sample.requests / peak
            errors = area.height() * sample.errors / peak
            painter.fillRect(QRectF(x + 1, area.bottom() - height, max(1.0, width - 2), height - errors),
                             OK_COLOUR)
            painter.fillRect(QRectF(x + 1, area.bottom() - errors, max(1.0, width - 2), errors), ERROR_COLOUR)
        latencies = [s.mean_ms for s in self.samples if s.mean_ms is not None]
        if latencies:
            top = max(latencies) * 1.15 or 1.0
            painter.setPen(QPen(LATENCY_COLOUR, 2))
            points = [QPointF(start + (i + 0.5) * width, area.bottom() - area.height() * s.mean_ms / top)
                      for i, s in enumerate(self.samples) if s.mean_ms is not None]
            if len(points) == 1:
                painter.drawEllipse(points[0], 2, 2)
            else:
                painter.drawPolyline(points)
        painter.end()
