"""Create a deployment in three steps, as the seed's modal: export → type → configuration.

The types are the local endpoint plus the package-type registry (``core.packaging``):
one radio button per registered type, enabled only when the chosen export's format
can become that package; a disabled type says which export to make instead.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import NamedTuple

from PySide6.QtCore import Qt, Signal
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

from core import formats, packaging
from core.db import DeploymentType
from core.tiers import LOCAL_TIER, TIERS, tier_label

ENDPOINT = DeploymentType.PLATFORM_ENDPOINT.value
ENDPOINT_TITLE = "Local endpoint"
ENDPOINT_TEXT = "Serve the model over HTTP from this machine, with an API key and a tier."
EXPORT_LINK = "export:"  # a note's link: make an export of the format after the colon


class ExportOption(NamedTuple):
    """A completed export the wizard can deploy."""

    id: str
    label: str
    export_format: str


@dataclass(frozen=True)
class TypeChoice:
    kind: str  # "platform_endpoint" or a package type's name
    title: str
    text: str


def type_choices() -> list[TypeChoice]:
    """The endpoint, then every registered package type (a view over the registry)."""
    return [TypeChoice(ENDPOINT, ENDPOINT_TITLE, ENDPOINT_TEXT),
            *(TypeChoice(t.name, t.title, t.description) for t in packaging.package_types())]


def offered(export_format: str) -> dict[str, str | None]:
    """kind → None when an export of this format can be deployed so, else why not (naming
    the export to make), in the app's words."""
    return {ENDPOINT: None, **{t.name: t.mismatch(export_format) for t in packaging.package_types()}}


def _with_article(title: str) -> str:
    return f"{'an' if title[:1].lower() in 'aeiou' else 'a'} {title}"


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


@dataclass(frozen=True)
class DeployChoice:
    export_id: str
    kind: str  # "platform_endpoint" or a package type's name (core.packaging)
    tier: str | None = None


class _ExportPage(QWizardPage):
    def __init__(self, exports: list[ExportOption], selected: str | None) -> None:
        super().__init__()
        self.setTitle("Which export?")
        self.setSubTitle("Only completed exports can be deployed.")
        self.combo = QComboBox()
        for option in exports:
            self.combo.addItem(option.label, option.id)
        self.formats = {option.id: option.export_format for option in exports}
        if selected is not None and self.combo.findData(selected) >= 0:
            self.combo.setCurrentIndex(self.combo.findData(selected))
        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        if not exports:
            layout.addWidget(QLabel("There is no completed export yet: export a model first."))

    @property
    def export_format(self) -> str:
        return self.formats.get(str(self.combo.currentData()), "")

    def isComplete(self) -> bool:
        return self.combo.count() > 0


class _TypePage(QWizardPage):
    def __init__(self, export_page: _ExportPage) -> None:
        super().__init__()
        self.export_page = export_page
        self.setTitle("What kind of deployment?")
        self.group = QButtonGroup(self)
        self.choices = type_choices()
        self.buttons: dict[str, QRadioButton] = {}
        self.notes: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        for index, choice in enumerate(self.choices):
            button = QRadioButton(choice.title)
            self.group.addButton(button, index)
            note = QLabel(choice.text)
            note.setTextFormat(Qt.TextFormat.RichText)
            note.setWordWrap(True)
            note.setIndent(24)
            note.linkActivated.connect(self._link)
            layout.addWidget(button)
            layout.addWidget(note)
            self.buttons[choice.kind], self.notes[choice.kind] = button, note
        layout.addStretch(1)
        self.group.button(0).setChecked(True)
        self.group.idToggled.connect(lambda _id, _on: self.completeChanged.emit())

    def initializePage(self) -> None:
        """Offer only what the chosen export's format can become; say why the rest cannot."""
        fmt = self.export_page.export_format
        reasons = offered(fmt)
        title = formats.get(fmt).title if fmt in formats.names() else fmt
        self.setSubTitle(f"This is {_with_article(title)} export. A type it cannot become says which "
                         "export to make.")
        for choice in self.choices:
            reason = reasons.get(choice.kind)
            self.buttons[choice.kind].setEnabled(reason is None)
            if reason is None:
                self.notes[choice.kind].setText(html.escape(choice.text))
                continue
            needed = packaging.get(choice.kind).needed_format
            action = (f" <a href='{EXPORT_LINK}{needed}'>Make {_with_article(formats.get(needed).title)} "
                      "export now</a>" if needed in formats.names() else "")
            self.notes[choice.kind].setText(
                f"<span style='color:#9e9e9e'>{html.escape(choice.text)}</span><br>"
                f"<span style='color:#b71c1c'>✗ {html.escape(_sentence(reason))}</span>{action}")
        checked = self.group.checkedButton()
        if checked is None or not checked.isEnabled():
            self.group.button(0).setChecked(True)  # the endpoint takes every export
        self.completeChanged.emit()

    @property
    def kind(self) -> str:
        return self.choices[max(self.group.checkedId(), 0)].kind

    def _link(self, href: str) -> None:
        if href.startswith(EXPORT_LINK):
            wizard = self.wizard()
            if isinstance(wizard, DeployWizard):
                wizard.request_export(href.removeprefix(EXPORT_LINK))

    def isComplete(self) -> bool:
        checked = self.group.checkedButton()
        return checked is not None and checked.isEnabled()


class _ConfigPage(QWizardPage):
    def __init__(self, type_page: _TypePage) -> None:
        super().__init__()
        self.type_page = type_page
        self.setTitle("Configuration")
        self.tier = QComboBox()
        for name in TIERS:
            self.tier.addItem(tier_label(name), name)
        self.tier.setCurrentIndex(self.tier.findData(LOCAL_TIER))  # a local endpoint is not throttled
        self.form = QFormLayout(self)
        self.form.addRow("Tier", self.tier)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.form.addRow(self.note)

    def initializePage(self) -> None:
        kind = self.type_page.kind
        self.form.setRowVisible(0, kind == ENDPOINT)
        if kind == ENDPOINT:
            self.note.setText("An API key is made for you and shown once; copy it then.")
        else:
            entry = packaging.get(kind)
            self.note.setText(f"{entry.description}\nThe package is built in the background; the app stays "
                              "usable and the deployment appears when it is ready.")


class DeployWizard(QWizard):
    sig_export_requested = Signal(str, str)
    """(export_id, format): the user asked to make an export of that format from the same model."""

    def __init__(self, exports: list[ExportOption], selected: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New deployment")
        self.export_page = _ExportPage(exports, selected)
        self.type_page = _TypePage(self.export_page)
        self.config_page = _ConfigPage(self.type_page)
        for page in (self.export_page, self.type_page, self.config_page):
            self.addPage(page)
        self.resize(600, 520)

    def request_export(self, export_format: str) -> None:
        """Leave this wizard for an export of the format a package type needs."""
        self.sig_export_requested.emit(str(self.export_page.combo.currentData()), export_format)
        self.reject()

    def choice(self) -> DeployChoice:
        kind = self.type_page.kind
        return DeployChoice(export_id=str(self.export_page.combo.currentData()), kind=kind,
                            tier=self.config_page.tier.currentData() if kind == ENDPOINT else None)
