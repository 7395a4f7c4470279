"""A benchmark report's chart, drawn with QPainter: one panel per measure (size, latency p50,
the validation metric), one horizontal bar per variant, coloured by its status (as
report.png: green passed, red failed, grey unsupported). ``bars`` keeps what is drawn."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

STATUS_COLOURS = {"passed": "#2e7d32", "failed": "#c62828"}
OTHER_COLOUR = "#9e9e9e"
PANELS = (("size (MB)", "size_mb"), ("latency p50 (ms)", "latency_ms_p50"), ("metric", "metric_value"))
LABEL_WIDTH, ROW_HEIGHT, TITLE_HEIGHT = 150, 22, 20


def chart_bars(report: dict[str, Any] | None) -> list[tuple[str, str, list[float | None]]]:
    """(variant, status, one value per panel or None) per row of the report."""
    return [(str(r["variant"]), str(r.get("status", "")),
             [None if r.get(key) is None else float(r[key]) for _title, key in PANELS])
            for r in (report or {}).get("rows", [])]


class BenchmarkChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars: list[tuple[str, str, list[float | None]]] = []
        self.metric_name = "metric"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(TITLE_HEIGHT + ROW_HEIGHT + 8)

    def set_report(self, report: dict[str, Any] | None) -> None:
        self.bars = chart_bars(report)
        rows = (report or {}).get("rows", [])
        self.metric_name = next((str(r["metric"]) for r in rows if r.get("metric")),
                           "metric (needs labelled data)")
        self.setMinimumHeight(TITLE_HEIGHT + ROW_HEIGHT * max(1, len(self.bars)) + 8)
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        text = self.palette().text().color()
        if not self.bars:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No benchmark report yet")
            painter.end()
            return
        panel_width = max(60.0, (self.width() - LABEL_WIDTH) / len(PANELS))
        painter.setPen(text)
        for index, (variant, _status, _values) in enumerate(self.bars):
            y = TITLE_HEIGHT + index * ROW_HEIGHT
            painter.drawText(QRectF(4, y, LABEL_WIDTH - 8, ROW_HEIGHT),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, variant)
        for p, (title, _key) in enumerate(PANELS):
            left = LABEL_WIDTH + p * panel_width
            painter.setPen(text)
            painter.drawText(QRectF(left, 0, panel_width, TITLE_HEIGHT), Qt.AlignmentFlag.AlignCenter,
                             self.metric_name if title == "metric" else title)
            values = [value for _n, _s, v in self.bars if (value := v[p]) is not None]
            top = max(values, default=0.0) or 1.0
            for index, (_variant, status, row_values) in enumerate(self.bars):
                y = TITLE_HEIGHT + index * ROW_HEIGHT
                value = row_values[p]
                width = 0.0 if value is None else (panel_width - 60) * value / top
                painter.fillRect(QRectF(left + 4, y + 3, width, ROW_HEIGHT - 6),
                                 QColor(STATUS_COLOURS.get(status, OTHER_COLOUR)))
                painter.setPen(text)
                label = f"{value:.3g}" if value is not None else "—" if status == "passed" else status
                painter.drawText(QRectF(left + 8 + width, y, 60, ROW_HEIGHT),
                                 Qt.AlignmentFlag.AlignVCenter, label)
        painter.end()
