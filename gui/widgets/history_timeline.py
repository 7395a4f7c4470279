"""A deployment's history (core.deployments.DeploymentService.history) as a vertical timeline."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget

EVENT_WORDS = {"created": "Created", "activated": "Activated", "deactivated": "Deactivated",
               "updated": "Configuration changed", "failed": "Failed", "deleted": "Deleted",
               "key_created": "API key created", "key_revoked": "API key revoked"}


def describe_event(event: Any) -> str:
    """One line for a DeploymentHistory row: when, what, and the status change if any."""
    when = event.created_at.strftime("%Y-%m-%d %H:%M:%S") if event.created_at else ""
    what = EVENT_WORDS.get(event.event_type, event.event_type.replace("_", " ").capitalize())
    change = ""
    if event.status_before != event.status_after and event.status_after:
        change = f"  ({event.status_before or 'new'} → {event.status_after})"
    detail = ""
    data = event.event_data or {}
    if "prefix" in data:
        detail = f"  key {data['prefix']}…"
    elif "reason" in data:
        detail = f"  {data['reason']}"
    return f"{when}   {what}{change}{detail}"


class HistoryTimeline(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("History")
        self.title.setStyleSheet("font-weight: 600;")
        self.events = QListWidget()
        self.events.setAlternatingRowColors(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.events)

    def show_history(self, name: str, events: list[Any]) -> None:
        self.title.setText(f"History of {name}")
        self.events.clear()
        for event in reversed(events):  # newest first
            self.events.addItem(describe_event(event))

    def lines(self) -> list[str]:
        return [self.events.item(i).text() for i in range(self.events.count())]
