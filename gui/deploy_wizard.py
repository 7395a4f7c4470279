"""Create a deployment in three steps, as the seed's modal: export → type → configuration."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from core.db import DeploymentType
from core.deployments import TIERS

TYPE_CHOICES: list[tuple[str, str, str]] = [
    (DeploymentType.PLATFORM_ENDPOINT, "Local endpoint",
     "Serve the model over HTTP from this machine (slipway serve), with an API key and a tier."),
    (DeploymentType.DOWNLOAD, "Download", "The export's package zip, ready to hand over."),
    (DeploymentType.EDGE_PACKAGE, "Edge package", "An iOS (.mlpackage + Swift) or Android (.tflite + Kotlin) "
     "bundle with a sample app."),
    (DeploymentType.CONTAINER, "Container", "A Triton Inference Server model repository with a Dockerfile."),
]
PLATFORMS = ("ios", "android")


def packaging_available() -> bool:
    """Edge and container packages are built by core.packaging (through the CLI)."""
    return importlib.util.find_spec("core.packaging") is not None


@dataclass(frozen=True)
class DeployChoice:
    export_id: str
    deployment_type: str
    tier: str | None = None
    platform: str | None = None


class _ExportPage(QWizardPage):
    def __init__(self, exports: list[tuple[str, str]], selected: str | None) -> None:
        super().__init__()
        self.setTitle("Which export?")
        self.setSubTitle("Only completed exports can be deployed.")
        self.combo = QComboBox()
        for export_id, label in exports:
            self.combo.addItem(label, export_id)
        if selected is not None and self.combo.findData(selected) >= 0:
            self.combo.setCurrentIndex(self.combo.findData(selected))
        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        if not exports:
            layout.addWidget(QLabel("There is no completed export yet: export a model first."))

    def isComplete(self) -> bool:
        return self.combo.count() > 0


class _TypePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("What kind of deployment?")
        self.group = QButtonGroup(self)
        layout = QVBoxLayout(self)
        can_package = packaging_available()
        for index, (kind, title, text) in enumerate(TYPE_CHOICES):
            button = QRadioButton(title)
            needs_packaging = kind in (DeploymentType.EDGE_PACKAGE, DeploymentType.CONTAINER)
            button.setEnabled(can_package or not needs_packaging)
            self.group.addButton(button, index)
            note = QLabel(text if button.isEnabled() else f"{text} (not available in this build yet)")
            note.setWordWrap(True)
            note.setIndent(24)
            layout.addWidget(button)
            layout.addWidget(note)
        self.group.button(0).setChecked(True)

    @property
    def deployment_type(self) -> str:
        return TYPE_CHOICES[max(self.group.checkedId(), 0)][0]


class _ConfigPage(QWizardPage):
    def __init__(self, type_page: _TypePage) -> None:
        super().__init__()
        self.type_page = type_page
        self.setTitle("Configuration")
        self.tier = QComboBox()
        for name, limits in TIERS.items():
            month = limits["requests_per_month"]
            self.tier.addItem(f"{name} — {limits['rate_limit_per_minute']}/min, "
                              f"{'unlimited' if month is None else f'{month:,}/month'}", name)
        self.platform = QComboBox()
        for platform in PLATFORMS:
            self.platform.addItem(platform, platform)
        self.form = QFormLayout(self)
        self.form.addRow("Tier", self.tier)
        self.form.addRow("Platform", self.platform)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.form.addRow(self.note)

    def initializePage(self) -> None:
        kind = self.type_page.deployment_type
        self.form.setRowVisible(0, kind == DeploymentType.PLATFORM_ENDPOINT)
        self.form.setRowVisible(1, kind == DeploymentType.EDGE_PACKAGE)
        notes: dict[str, str] = {
            DeploymentType.PLATFORM_ENDPOINT: "An API key is made for you and shown once; copy it then.",
            DeploymentType.DOWNLOAD: "Nothing to configure: the export's package zip is used.",
        }
        self.note.setText(notes.get(kind, "The package is built in the background; the app stays usable."))


class DeployWizard(QWizard):
    def __init__(self, exports: list[tuple[str, str]], selected: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New deployment")
        self.export_page = _ExportPage(exports, selected)
        self.type_page = _TypePage()
        self.config_page = _ConfigPage(self.type_page)
        for page in (self.export_page, self.type_page, self.config_page):
            self.addPage(page)
        self.resize(560, 420)

    def choice(self) -> DeployChoice:
        kind = self.type_page.deployment_type
        return DeployChoice(
            export_id=str(self.export_page.combo.currentData()), deployment_type=kind,
            tier=self.config_page.tier.currentData() if kind == DeploymentType.PLATFORM_ENDPOINT else None,
            platform=self.config_page.platform.currentData() if kind == DeploymentType.EDGE_PACKAGE else None,
        )
