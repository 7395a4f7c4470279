"""Settings' "Where exports run" box: this machine, or a Ray cluster at an address, with a test.

The choice is :class:`core.settings.Settings`' ``run_exports_on`` and ``cluster_address``
(the settings view saves them with the rest). "Test connection" reaches the cluster off
the UI thread (``core.cluster.describe`` on a pool thread) and says what it found, its
nodes with their CPUs, GPUs and custom resources, or why it failed, naming the address.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QWidget,
)

from core.errors import SlipwayError
from core.settings import Settings
from gui.thread_task import run_in_thread
from gui.widgets.connection_test import ConnectionTest


class ClusterSettings(QGroupBox):
    sig_tested = Signal(bool, str)
    """(ok, sentence) from "Test connection", on the UI thread."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Where exports run", parent)
        form = QFormLayout(self)
        self.here = QRadioButton("This machine")
        self.cluster = QRadioButton("Ray cluster at")
        self.address = QLineEdit()
        self.address.setPlaceholderText(Settings.model_fields["cluster_address"].description or "")
        group = QButtonGroup(self)
        group.addButton(self.here)
        group.addButton(self.cluster)
        self.here.setChecked(True)
        row = QHBoxLayout()
        row.addWidget(self.cluster)
        row.addWidget(self.address, 1)
        form.addRow("Run exports on", self.here)
        form.addRow("", row)
        note = QLabel("The cluster's nodes must see this computer's files (a shared file system): "
                      "they read the model and write the package where this app keeps them.")
        note.setWordWrap(True)
        form.addRow("", note)
        self.probe = ConnectionTest()
        self.test_button, self.result = self.probe.button, self.probe.result
        self.test_button.clicked.connect(self.test_connection)
        form.addRow(self.probe)
        self.cluster.toggled.connect(self._update)
        self.sig_tested.connect(self._show)
        self._update()

    def load(self, settings: Settings) -> None:
        (self.cluster if settings.run_exports_on == "cluster" else self.here).setChecked(True)
        self.address.setText(settings.cluster_address or "")
        self._update()

    def values(self) -> dict[str, Any]:
        """This box's part of :class:`Settings`."""
        return {"run_exports_on": "cluster" if self.cluster.isChecked() else "local",
                "cluster_address": self.address.text().strip() or None}

    def _update(self) -> None:
        self.address.setEnabled(self.cluster.isChecked())
        self.test_button.setEnabled(self.cluster.isChecked())

    def test_connection(self) -> None:
        from core.cluster import describe, resolve_address

        text = self.address.text().strip()
        if not text:
            self.sig_tested.emit(False, "Give the cluster's address first, e.g. http://HOST:8265.")
            return
        try:
            address = resolve_address(text)
        except SlipwayError as err:
            self.sig_tested.emit(False, err.message)
            return
        assert address is not None
        self.probe.busy(f"Reaching {address}…")
        run_in_thread(lambda: describe(address), what=f"Testing the Ray cluster at {address}", owner=self,
                      notify=False, on_result=lambda text: self.sig_tested.emit(True, f"Reached {text}"),
                      on_error=lambda message, _err: self.sig_tested.emit(False, _sentence(message)))

    def _show(self, ok: bool, text: str) -> None:
        self._update()
        self.probe.show_result(ok, text)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]
