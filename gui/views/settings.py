"""Settings: the data directory, storage (local or S3) with a connection test, where exports run, export
defaults, theme."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.errors import SlipwayError
from core.paths import data_dir
from core.settings import Settings
from core.spec import FORMATS
from gui.preferences import Preferences
from gui.theme import THEMES
from gui.thread_task import run_in_thread
from gui.widgets.cluster_settings import ClusterSettings
from gui.widgets.connection_test import ConnectionTest
from gui.widgets.jobs_settings import JobsSettings

S3_FIELDS = ("s3_bucket", "s3_prefix", "s3_endpoint_url", "s3_region", "s3_profile")
S3_LABELS = {"s3_bucket": "Bucket", "s3_prefix": "Prefix", "s3_endpoint_url": "Endpoint URL",
             "s3_region": "Region", "s3_profile": "Profile"}


class _ConnectionProbe(QObject):
    sig_result = Signal(bool, str)
    """(ok, sentence) from Settings.test_connection, delivered on the UI thread."""


class SettingsView(QWidget):
    sig_theme_changed = Signal(str)
    """The theme the user picked."""
    sig_message = Signal(str)
    """A sentence for the status bar."""
    sig_saved = Signal()
    """Settings and preferences were written (storage may have changed)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.probe = _ConnectionProbe(self)
        self.probe.sig_result.connect(self._show_connection)
        content = QWidget()
        column = QVBoxLayout(content)

        data = QGroupBox("Data directory")
        data_form = QFormLayout(data)
        self.data_dir = QLabel(str(data_dir()))
        self.data_dir.setWordWrap(True)
        data_form.addRow("Location", self.data_dir)
        data_form.addRow("", QLabel("Set SLIPWAY_HOME before starting Slipway to use another folder."))
        column.addWidget(data)

        storage = QGroupBox("Storage")
        form = QFormLayout(storage)
        self.backend = QComboBox()
        self.backend.addItems(["local", "s3"])
        form.addRow("Backend", self.backend)
        self.local_dir = QLineEdit()
        self.local_dir.setPlaceholderText(f"default: {data_dir() / 'storage'}")
        form.addRow("Local folder", self.local_dir)
        self.s3: dict[str, QLineEdit] = {}
        for name in S3_FIELDS:
            line = QLineEdit()
            description = Settings.model_fields[name].description
            if description:
                line.setPlaceholderText(description)
            form.addRow(S3_LABELS[name], line)
            self.s3[name] = line
        form.addRow("", QLabel("No secrets are stored: credentials come from boto3's chain "
                               "(environment, ~/.aws profiles, SSO)."))
        self.storage_test = ConnectionTest()
        self.test_button, self.connection = self.storage_test.button, self.storage_test.result
        self.test_button.clicked.connect(self.test_connection)
        form.addRow(self.storage_test)
        column.addWidget(storage)
        self.cluster = ClusterSettings()
        column.addWidget(self.cluster)

        defaults = QGroupBox("Export defaults and appearance")
        defaults_form = QFormLayout(defaults)
        self.default_format = QComboBox()
        self.default_format.addItems(list(FORMATS))
        self.default_opset = QSpinBox()
        self.default_opset.setRange(11, 21)
        self.theme = QComboBox()
        self.theme.addItems(list(THEMES))
        defaults_form.addRow("Default format", self.default_format)
        defaults_form.addRow("Default ONNX opset", self.default_opset)
        defaults_form.addRow("Theme", self.theme)
        column.addWidget(defaults)
        self.jobs = JobsSettings()
        column.addWidget(self.jobs)

        save = QPushButton("Save")
        save.clicked.connect(self.save)
        self.status = QLabel()
        self.status.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(save)
        column.addLayout(bottom)
        column.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self.load()

    def load(self) -> None:
        try:
            settings = Settings.load()
        except SlipwayError as err:
            self.status.setText(err.message)
            settings = Settings()
        self.backend.setCurrentText(settings.storage_backend)
        self.local_dir.setText(settings.local_storage_dir or "")
        self.cluster.load(settings)
        for name, line in self.s3.items():
            line.setText(getattr(settings, name) or "")
        prefs = Preferences.load()
        self.default_format.setCurrentText(prefs.default_format)
        self.default_opset.setValue(prefs.default_opset)
        self.theme.setCurrentText(prefs.theme)
        self.jobs.load(prefs)

    def current_settings(self) -> Settings:
        values: dict[str, Any] = {"storage_backend": self.backend.currentText(),
                                  "local_storage_dir": self.local_dir.text().strip() or None}
        for name, line in self.s3.items():
            text = line.text().strip()
            values[name] = text if name == "s3_prefix" else (text or None)
        values.update(self.cluster.values())
        return Settings.model_validate({**Settings.load().model_dump(), **values})

    def save(self) -> bool:
        try:
            path = self.current_settings().save()
        except (SlipwayError, ValueError) as err:
            self.status.setText(f"Not saved: {err}")
            return False
        prefs = Preferences.model_validate({  # what this page does not show (the endpoint's port) stays
            **Preferences.load().model_dump(), "theme": self.theme.currentText(),
            "default_format": self.default_format.currentText(), "default_opset": self.default_opset.value(),
            **self.jobs.values()})
        prefs.save()
        self.sig_theme_changed.emit(prefs.theme)
        self.sig_saved.emit()
        self.status.setText(f"Saved to {path}")
        self.sig_message.emit("settings saved")
        return True

    def test_connection(self) -> None:
        """Runs off the UI thread: a slow or unreachable endpoint must not freeze the window."""
        try:
            settings = self.current_settings()
        except (SlipwayError, ValueError) as err:
            self._show_connection(False, str(err))
            return
        self.storage_test.busy("Testing…")
        run_in_thread(settings.test_connection, what="Testing the storage connection", owner=self,
                      on_result=lambda answer: self.probe.sig_result.emit(*answer),
                      on_error=lambda message, _err: self.probe.sig_result.emit(False, message))

    def _show_connection(self, ok: bool, text: str) -> None:
        self.test_button.setEnabled(True)
        self.storage_test.show_result(ok, text)
