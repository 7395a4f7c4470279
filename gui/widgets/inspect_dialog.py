"""The Inspect dialog: what a checkpoint or an export is made of, read in a child process.

``python -m exporters.facts`` (core.launch.facts_command) loads the model where torch,
onnx, OpenVINO and LiteRT may be imported, and answers one JSON object: inputs and
outputs, op counts by type, parameters by layer type, opset, versions. The dialog shows
it in four tables. "Open in Netron" starts Netron (when the ``netron`` package is
installed) as a detached process that serves the file and opens the browser.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core import launch
from gui.child_process import ChildProcess
from gui.models.formatting import display_path, size_label

NETRON_MISSING = "Netron is not installed: pip install netron"


def netron_available() -> bool:
    """Whether the ``netron`` package can be imported by this Python (it is not imported here)."""
    return importlib.util.find_spec("netron") is not None


def open_in_netron(model_file: Path) -> bool:
    """Netron on the file in a process of its own (it serves the file and opens the browser);
    never waited for, so the UI goes on."""
    started, _pid = QProcess.startDetached(sys.executable, ["-m", "netron", str(model_file)])
    return bool(started)


def _table(headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem(f"{value:,}" if isinstance(value, int) else str(value))
            if isinstance(value, int):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class InspectDialog(QDialog):
    """One model's facts; the child starts with the dialog and stops when it closes."""

    def __init__(self, title: str, command: list[str], model_file: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Inspect — {title}")
        self.resize(760, 560)
        self.model_file = model_file
        self.facts: dict[str, Any] | None = None
        self.error: str | None = None
        self.ended = False
        self.summary = QLabel("Reading the model in a separate process…")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tabs = QTabWidget()
        self.netron_button = QPushButton("Open in Netron")
        available = netron_available()
        self.netron_button.setEnabled(available and model_file.is_file())
        self.netron_button.setToolTip(
            NETRON_MISSING if not available else f"Open {model_file.name} in Netron, in the browser"
            if model_file.is_file() else "Netron opens one file; this model is a folder")
        self.netron_button.clicked.connect(lambda: open_in_netron(self.model_file))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.netron_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.child = ChildProcess(command, self)
        self.child.sig_message.connect(self._answer)
        self.child.sig_finished.connect(self._finished)
        self.child.sig_failed_to_start.connect(self._failed)
        self.finished.connect(lambda _result: self.child.stop())
        self.child.start()

    def _answer(self, message: dict[str, Any]) -> None:
        if "error" in message:
            self._failed(str(message["error"]))
            return
        self.facts = message
        self.show_facts(message)

    def _finished(self, code: int, stopped: bool) -> None:
        if self.facts is None and self.error is None and not stopped:
            self._failed(f"reading the model failed (exit {code}): {self.child.last_error_line()}")
        self.ended = True

    def _failed(self, message: str) -> None:
        self.error = message
        self.summary.setText(f"<b>Could not read the model.</b> {message}")
        self.ended = True

    def show_facts(self, facts: dict[str, Any]) -> None:
        params = facts["parameters"]
        opset = ", ".join(f"{k} {v}" for k, v in (facts.get("opset") or {}).items())
        precision = f" · {facts['precision']}" if facts.get("precision") else ""
        self.summary.setText(
            f"<b>{facts['subject']} · {facts['format']}{precision}</b> — {display_path(facts['file'])}<br>"
            f"{facts['op_count']:,} ops in {len(facts['ops'])} types · {params['total']:,} parameters "
            f"({size_label(params['bytes'])})" + (f" · opset {opset}" if opset else "")
            + "".join(f"<br><i>{note}</i>" for note in facts.get("notes", [])))
        # a dict crossing a Qt signal comes back with its keys sorted: the commonest first again
        ops = sorted(facts["ops"].items(), key=lambda kv: (-kv[1], kv[0]))
        self.tabs.clear()
        io_rows = [("input", t["name"], str(t["shape"]), t["dtype"]) for t in facts["inputs"]]
        io_rows += [("output", t["name"], str(t["shape"]), t["dtype"]) for t in facts["outputs"]]
        self.io_table = _table(("", "name", "shape", "dtype"), io_rows)
        self.ops_table = _table(("op type", "count"), ops)
        self.params_table = _table(("layer type", "layers", "parameters", "size"), [
            (r["type"], r["layers"], r["parameters"], size_label(r["bytes"]))
            for r in params["by_layer_type"]])
        self.versions_table = _table(("library", "version"), list(facts["versions"].items()))
        self.tabs.addTab(self.io_table, "Inputs and outputs")
        self.tabs.addTab(self.ops_table, f"Ops ({len(facts['ops'])})")
        self.tabs.addTab(self.params_table, "Parameters")
        self.tabs.addTab(self.versions_table, "Versions")


def inspect_checkpoint(checkpoint: Any, parent: QWidget | None = None) -> InspectDialog:
    """The dialog for a library checkpoint (a ``core.db.Checkpoint``), opened."""
    command = launch.facts_command(checkpoint=Path(checkpoint.path), framework=checkpoint.framework,
                                   task=checkpoint.task, model_name=checkpoint.model_name)
    dialog = InspectDialog(checkpoint.name, command, Path(checkpoint.path), parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def inspect_export(job: dict[str, Any], title: str, parent: QWidget | None = None) -> InspectDialog:
    """The dialog for an export (a history row: ``package_dir`` and ``model_path``)."""
    package = Path(job["package_dir"])
    model_file = Path(job.get("model_path") or package)
    dialog = InspectDialog(title, launch.facts_command(package=package), model_file, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
