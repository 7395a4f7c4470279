"""One deployment as a card: type, status, where its package is, and for endpoints URL and usage."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from core.db import DeploymentStatus, DeploymentType
from core.errors import BadInput
from core.tiers import DEFAULT_TIER
from gui.usage_monitor import Counters, UsageSample
from gui.widgets.usage_chart import UsageChart

ENDPOINT_TITLE = "Local endpoint"
STATUS_COLOURS: dict[str, str] = {DeploymentStatus.ACTIVE: "#2e7d32", DeploymentStatus.INACTIVE: "#757575",
                  DeploymentStatus.PENDING: "#f9a825", DeploymentStatus.FAILED: "#c62828",
                  DeploymentStatus.DELETED: "#424242"}


def type_title(summary: dict[str, Any]) -> str:
    """What the deployment is, for people: the package type's title from the registry (its
    name is in the deployment_config), or the endpoint."""
    if summary["type"] == DeploymentType.PLATFORM_ENDPOINT:
        return ENDPOINT_TITLE
    config = summary.get("config") or {}
    name = config.get("package_type") or (f"edge-{config['target_platform']}" if config.get("target_platform")
                                          else str(summary["type"]))
    from core import packaging  # here, not at start-up: the models page shows no deployment at first

    try:
        return packaging.get(name).title
    except BadInput:  # a record from before the registry named its package type
        return str(summary["type"]).replace("_", " ").capitalize()


def usage_line(requests: int, errors: int, total_ms: float) -> str:
    served = requests - errors
    mean = total_ms / served if served > 0 else 0.0
    return f"{requests} requests · {errors} errors · {mean:.1f} ms mean"


def endpoint_url(server_url: str | None, deployment_id: str) -> str:
    base = server_url or "http://127.0.0.1:8000 (server stopped)"
    return f"{base}/v1/infer/{deployment_id}"


class DeploymentCard(QFrame):
    sig_toggle = Signal(str)
    """Activate or deactivate this deployment (its id)."""
    sig_selected = Signal(str)
    """Show this deployment's history (its id)."""
    sig_copy = Signal(str, str)
    """Copy something about this endpoint: its id and what ("url", "curl" or "python")."""
    sig_delete = Signal(str)
    """Delete this deployment (its id), after asking."""

    def __init__(self, summary: dict[str, Any], package_location: str, server_url: str | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.deployment_id = str(summary["id"])
        self.setObjectName("deploymentCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("#deploymentCard { border: 1px solid #c8c8c8; border-radius: 6px; }")
        status = str(summary["status"])
        title = QLabel(f"<b>{summary['name']}</b>")
        self.status = QLabel(status)
        self.status.setStyleSheet(f"color: white; background: {STATUS_COLOURS.get(status, '#555')};"
                                  "border-radius: 4px; padding: 1px 8px;")
        header = QHBoxLayout()
        header.addWidget(title, 1)
        header.addWidget(self.status)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        rows: list[tuple[str, str]] = [("Type", type_title(summary)), ("Package", package_location)]
        if summary.get("export_label"):
            rows.insert(0, ("Export", str(summary["export_label"])))
        config = summary.get("config") or {}
        if config.get("target_platform"):
            rows.append(("Platform", str(config["target_platform"])))
        if summary["type"] == DeploymentType.PLATFORM_ENDPOINT:
            requests, errors = summary["request_count"], summary["error_count"]
            rows += [("URL", endpoint_url(server_url, self.deployment_id)),
                     ("Tier", summary.get("tier") or DEFAULT_TIER),
                     ("Usage", usage_line(requests, errors, summary["total_inference_time_ms"]))]
        self.values: dict[str, QLabel] = {}
        for row, (name, value) in enumerate(rows):
            label = QLabel(value)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QLabel(f"{name}:"), row, 0)
            grid.addWidget(label, row, 1)
            self.values[name] = label
        self.toggle = QPushButton("Deactivate" if status == DeploymentStatus.ACTIVE else "Activate")
        self.toggle.setEnabled(status in (DeploymentStatus.ACTIVE, DeploymentStatus.INACTIVE,
                                          DeploymentStatus.PENDING))
        self.toggle.clicked.connect(lambda: self.sig_toggle.emit(self.deployment_id))
        history = QPushButton("History")
        history.clicked.connect(lambda: self.sig_selected.emit(self.deployment_id))
        copies = QHBoxLayout()
        self.copy_buttons: dict[str, QPushButton] = {}
        if summary["type"] == DeploymentType.PLATFORM_ENDPOINT:
            for what, text in (("url", "Copy URL"), ("curl", "Copy curl"), ("python", "Copy Python")):
                button = QPushButton(text)
                button.clicked.connect(
                    lambda _checked=False, w=what: self.sig_copy.emit(self.deployment_id, w))
                copies.addWidget(button)
                self.copy_buttons[what] = button
            copies.addStretch(1)
        self.delete = QPushButton("Delete…")
        self.delete.clicked.connect(lambda: self.sig_delete.emit(self.deployment_id))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(history)
        buttons.addWidget(self.toggle)
        buttons.addWidget(self.delete)
        layout = QGridLayout(self)
        layout.addLayout(header, 0, 0)
        layout.addLayout(grid, 1, 0)
        self.chart: UsageChart | None = None
        if summary["type"] == DeploymentType.PLATFORM_ENDPOINT:
            self.chart = UsageChart()
            layout.addWidget(self.chart, 2, 0)
        layout.addLayout(copies, 3, 0)
        layout.addLayout(buttons, 4, 0)

    def show_usage(self, samples: list[UsageSample], totals: Counters | None) -> None:
        """Live usage: the chart's samples, and the totals line when a newer reading has them."""
        if self.chart is None:
            return
        self.chart.set_samples(samples)
        if totals is not None:
            self.values["Usage"].setText(usage_line(*totals))
