"""The model library: imported checkpoints; the selected one's details, exports and deployments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.db import Checkpoint, DeploymentTarget
from core.deployments import DeploymentService, deployment_summary
from core.errors import SlipwayError
from core.jobs import JobService
from core.spec import FRAMEWORKS, TASKS
from gui.library import acceptable, add_checkpoint
from gui.models.checkpoint_model import CHECKPOINT_ID_ROLE, CheckpointListModel
from gui.models.formatting import display_path, export_label, size_label
from gui.models.history_model import COLUMNS, HistoryModel
from gui.preferences import Preferences
from gui.store_watcher import LiveRead, StoreWatcher
from gui.widgets.confirm import confirm_destructive
from gui.widgets.deployment_card import type_title
from gui.widgets.inspect_dialog import InspectDialog, inspect_checkpoint, inspect_export
from gui.window_state import existing_directory, open_file_names

if TYPE_CHECKING:  # the benchmark panel (and core.benchmark) load when first opened
    from gui.widgets.benchmark_panel import BenchmarkDialog

EXPORT_COLUMNS = ("Version", "Format", "Precision", "Status", "Size", "Parity")


class ModelsView(QWidget):
    sig_checkpoint_selected = Signal(object)
    """The selected checkpoint's id, or None."""
    sig_export_requested = Signal(object)
    """A Checkpoint to open the export wizard for."""
    sig_message = Signal(str)
    """A sentence for the status bar."""
    sig_evaluate = Signal(str)
    """An export's id to evaluate on a folder (the Evaluate page)."""

    def __init__(self, service: JobService, deployments: DeploymentService,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.deployments = deployments
        self.setAcceptDrops(True)
        self.model = CheckpointListModel(service, self)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setSpacing(2)
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        add = QPushButton("Add checkpoint…")
        add.clicked.connect(self.choose_file)
        add_folder = QPushButton("Add HF folder…")
        add_folder.clicked.connect(self.choose_folder)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        hint = QLabel("Drop .pt, .pth, .safetensors files or Hugging Face folders here")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")
        self.find_field = QLineEdit()
        self.find_field.setPlaceholderText("Find a model")
        self.find_field.setClearButtonEnabled(True)
        self.find_field.textChanged.connect(self.filter_models)
        left_layout.addWidget(self.find_field)
        left_layout.addWidget(self.list, 1)
        left_layout.addWidget(hint)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(add_folder)
        left_layout.addLayout(buttons)

        self.title = QLabel("Select a model")
        self.title.setStyleSheet("font-size: 16px; font-weight: 600;")
        info_box = QGroupBox("Checkpoint")
        self.info = QFormLayout(info_box)
        self.name = QLineEdit()
        self.name.setPlaceholderText("how the app names this model")
        # detection can guess wrong: framework, task and architecture are editable
        self.framework = QComboBox()
        self.framework.addItems(FRAMEWORKS)
        self.task = QComboBox()
        self.task.addItems(TASKS)
        self.architecture = QLineEdit()
        self.architecture.setPlaceholderText("timm architecture, e.g. resnet18 (bare weights only)")
        self.save_button = QPushButton("Save changes")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_details)
        for editor in (self.framework, self.task):
            editor.currentTextChanged.connect(lambda _text: self.save_button.setEnabled(True))
        for line in (self.name, self.architecture):
            line.textEdited.connect(lambda _text: self.save_button.setEnabled(True))
        self.info.addRow("Name", self.name)
        self.info.addRow("Framework", self.framework)
        self.info.addRow("Task", self.task)
        self.info.addRow("Architecture", self.architecture)
        self.fields = {name: QLabel() for name in ("Kind", "Size", "Path")}
        for name, label in self.fields.items():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.info.addRow(name, label)
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.save_button)
        self.info.addRow(save_row)
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._request_export)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Take this model out of the library (the file stays on disk)")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self.remove_model)
        self.inspect_button = QPushButton("Inspect…")
        self.inspect_button.setToolTip("Inputs, outputs, layers, parameters and versions of this checkpoint")
        self.inspect_button.setEnabled(False)
        self.inspect_button.clicked.connect(self.inspect)
        self.benchmark_button = QPushButton("Benchmark…")
        self.benchmark_button.setToolTip("Export to formats × precisions; compare size, speed and accuracy")
        self.benchmark_button.setEnabled(False)
        self.benchmark_button.clicked.connect(self.benchmark)
        self.exports_model = HistoryModel(service, self)
        self.exports = QTableView()
        self.exports.setModel(self.exports_model)
        self.exports.verticalHeader().setVisible(False)
        self.exports.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for column, name in enumerate(COLUMNS):
            self.exports.setColumnHidden(column, name not in EXPORT_COLUMNS)
        self.exports.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.exports.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.exports.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.inspect_export_action = QAction("Inspect export…", self.exports)
        self.inspect_export_action.triggered.connect(self.inspect_export)
        self.exports.addAction(self.inspect_export_action)
        self.exports.doubleClicked.connect(lambda _index: self.inspect_export())
        self.evaluate_action = QAction("Evaluate on a folder…", self.exports)
        self.evaluate_action.triggered.connect(self._request_evaluation)
        self.exports.addAction(self.evaluate_action)
        self.deployment_list = QListWidget()
        right = QWidget()
        right_layout = QVBoxLayout(right)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.remove_button)
        header.addWidget(self.inspect_button)
        header.addWidget(self.benchmark_button)
        header.addWidget(self.export_button)
        right_layout.addLayout(header)
        right_layout.addWidget(info_box)
        right_layout.addWidget(QLabel("Exports"))
        right_layout.addWidget(self.exports, 2)
        right_layout.addWidget(QLabel("Deployments"))
        right_layout.addWidget(self.deployment_list, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([360, 740])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.list.selectionModel().selectionChanged.connect(self._selection_changed)

    # --- library -------------------------------------------------------------------

    def refresh(self) -> None:
        current = self.current()
        self.model.refresh()
        self.filter_models()
        if current is not None:
            self.select(current.id)
        elif self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(0))

    def filter_models(self, text: str = "") -> None:
        """Show only the models whose name, framework, task or file holds the text."""
        needle = (text or self.find_field.text()).strip().lower()
        for row, checkpoint in enumerate(self.model.items):
            haystack = " ".join(str(v or "") for v in (checkpoint.name, checkpoint.framework, checkpoint.task,
                                                      checkpoint.path)).lower()
            self.list.setRowHidden(row, bool(needle) and needle not in haystack)
        current = self.list.currentIndex()
        if current.isValid() and self.list.isRowHidden(current.row()):  # never show a hidden model
            visible = [r for r in range(self.model.rowCount()) if not self.list.isRowHidden(r)]
            if visible:
                self.list.setCurrentIndex(self.model.index(visible[0]))

    def select(self, checkpoint_id: str) -> None:
        row = self.model.row_of(checkpoint_id)
        if row >= 0:
            self.list.setCurrentIndex(self.model.index(row))

    def current(self) -> Checkpoint | None:
        rows = self.list.selectionModel().selectedIndexes()
        return self.model.items[rows[0].row()] if rows else None

    def import_paths(self, paths: list[Path]) -> list[Checkpoint]:
        """Add checkpoints (drop or dialog); problems are shown, not raised."""
        added, problems = [], []
        for path in paths:
            if not acceptable(path):
                problems.append(f"{path.name}: not a .pt/.pth/.safetensors file or a Hugging Face folder")
                continue
            try:
                checkpoint = add_checkpoint(self.service, path, self.ask_architecture)
            except SlipwayError as err:
                problems.append(err.message)
                continue
            if checkpoint is not None:
                added.append(checkpoint)
        self.model.refresh()
        if added:
            self.select(added[-1].id)
            self.sig_message.emit(f"added {', '.join(c.name for c in added)}")
        if problems:
            self.show_problem("\n".join(problems))
        return added

    def ask_architecture(self, path: Path) -> str | None:
        name, ok = QInputDialog.getText(
            self, "timm architecture",
            f"{path.name} holds bare weights. Which timm architecture are they for (e.g. resnet18)?")
        return name.strip() if ok and name.strip() else None

    def show_problem(self, text: str) -> None:
        QMessageBox.warning(self, "Slipway", text)

    def choose_file(self) -> None:
        files = open_file_names(self, "checkpoints", "Add checkpoints",
                                "Checkpoints (*.pt *.pth *.safetensors)")
        self.import_paths([Path(f) for f in files])

    def choose_folder(self) -> None:
        folder = existing_directory(self, "hf-folders", "Add a Hugging Face model folder")
        if folder:
            self.import_paths([Path(folder)])

    # --- drag and drop ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and any(acceptable(Path(u.toLocalFile())) for u in urls if u.isLocalFile()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        self.import_paths(paths)
        event.acceptProposedAction()

    # --- details ----------------------------------------------------------------------

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        checkpoint = self.current()
        self.export_button.setEnabled(checkpoint is not None)
        self.remove_button.setEnabled(checkpoint is not None)
        self.inspect_button.setEnabled(checkpoint is not None)
        self.benchmark_button.setEnabled(checkpoint is not None)
        self.show_details(checkpoint)
        self.sig_checkpoint_selected.emit(checkpoint.id if checkpoint else None)

    def show_details(self, checkpoint: Checkpoint | None) -> None:
        for editor in (self.name, self.framework, self.task, self.architecture):
            editor.setEnabled(checkpoint is not None)
        if checkpoint is None:
            self.title.setText("Select a model")
            for label in self.fields.values():
                label.setText("")
            self.name.clear()
            self.architecture.clear()
            self.save_button.setEnabled(False)
            self.exports_model.clear()
            self.deployment_list.clear()
            return
        self.title.setText(checkpoint.name)
        self.name.setText(checkpoint.name)
        self.framework.setCurrentText(checkpoint.framework)
        self.task.setCurrentIndex(TASKS.index(checkpoint.task) if checkpoint.task in TASKS else -1)
        self.task.setPlaceholderText("told by the model when exported")
        self.architecture.setText(checkpoint.model_name or "")
        values = (checkpoint.kind, size_label(checkpoint.size_bytes), display_path(checkpoint.path))
        for label, value in zip(self.fields.values(), values, strict=True):
            label.setText(value)
        self.save_button.setEnabled(False)
        self.exports_model.set_checkpoint(checkpoint.id)
        self.refresh_deployments()

    def save_details(self) -> None:
        """Store the edited name, framework, task and architecture on the library entry."""
        checkpoint = self.current()
        if checkpoint is None:
            return
        try:
            saved = self.service.update_checkpoint(
                checkpoint.id, name=self.name.text(), framework=self.framework.currentText(),
                task=self.task.currentText() or None, model_name=self.architecture.text())
        except SlipwayError as err:
            self.show_problem(err.message)
            return
        self.refresh()
        self.sig_message.emit(f"Saved “{saved.name}”")

    def remove_model(self) -> bool:
        """Take the selected model out of the library, with its exports and their deployments,
        after one question that counts them; the checkpoint file stays on disk."""
        checkpoint = self.current()
        if checkpoint is None:
            return False
        exports = self.service.list_jobs(checkpoint.id)
        deployed = [t for job in exports for t in self.deployments.list_deployments(export_id=job.id)]
        goes = ""
        if exports:
            goes = f" Its {_count(len(exports), 'export')} and their packages are deleted"
            goes += f", with {_count(len(deployed), 'deployment')}." if deployed else "."
        question = (f"Remove “{checkpoint.name}” from the library?{goes} The checkpoint file stays "
                    f"at {display_path(checkpoint.path)}. This cannot be undone.")
        if not confirm_destructive(self, question, "Remove"):
            return False
        try:
            self.service.remove_checkpoint(checkpoint.id)
        except SlipwayError as err:
            self.show_problem(err.message)
            return False
        if checkpoint.sample:  # a removed sample is not added back at the next start
            preferences = Preferences.load()
            preferences.removed_samples = sorted({*preferences.removed_samples, checkpoint.sample})
            preferences.save()
        self.list.selectionModel().clearSelection()
        self.refresh()
        self.sig_message.emit(f"Removed “{checkpoint.name}” from the library")
        return True

    def refresh_exports(self) -> None:
        self.exports_model.refresh()
        self.refresh_deployments()

    def refresh_deployments(self, targets: list[DeploymentTarget] | None = None) -> None:
        """The selected model's deployments (``targets``: all of them, read already)."""
        versions = {job["id"]: job["version"] for job in self.exports_model.rows}
        lines = [f"{target.name} · {type_title(deployment_summary(target))} · {target.status} "
                 f"(export v{versions[target.export_job_id]})"
                 for target in (self.deployments.list_deployments() if targets is None else targets)
                 if target.export_job_id in versions] or ["No deployments yet"]
        if lines != [self.deployment_list.item(i).text() for i in range(self.deployment_list.count())]:
            self.deployment_list.clear()
            self.deployment_list.addItems(lines)

    def follow(self, watcher: StoreWatcher) -> LiveRead:
        """The library, the selected model's exports and deployments follow the store."""
        return LiveRead(watcher, self._read_store, self._store_read, self, "Reading the library")

    def _read_store(self) -> tuple[list[str], Any, list[DeploymentTarget]]:
        return ([c.id for c in self.service.checkpoints()], self.exports_model.read(),
                self.deployments.list_deployments())

    def _store_read(self, read: tuple[list[str], Any, list[DeploymentTarget]]) -> None:
        checkpoint_ids, exports, targets = read
        if checkpoint_ids != [c.id for c in self.model.items]:
            self.refresh()  # a model was added or removed elsewhere (the CLI)
        self.exports_model.apply_jobs(exports)
        self.refresh_deployments(targets)

    def inspect(self) -> InspectDialog | None:
        """The selected checkpoint's facts, read in a child process (torch stays out of the app)."""
        checkpoint = self.current()
        return inspect_checkpoint(checkpoint, self) if checkpoint is not None else None

    def inspect_export(self) -> InspectDialog | None:
        """The export selected in the Exports table (double-click or its context menu)."""
        selection = self.exports.selectionModel()
        rows = selection.selectedRows() or selection.selectedIndexes()
        job = self.exports_model.job_at(rows[0].row()) if rows else None
        if job is None or job["status"] != "completed":
            self.sig_message.emit("Select a completed export to inspect")
            return None
        checkpoint = self.current()
        return inspect_export(job, export_label(checkpoint.name if checkpoint else None, job["version"],
                                                job["export_format"]), self)

    def benchmark(self) -> BenchmarkDialog | None:
        checkpoint = self.current()
        from gui.widgets.benchmark_panel import open_benchmark

        return open_benchmark(self, checkpoint) if checkpoint is not None else None

    def _request_evaluation(self) -> None:
        """The selected export, if it completed, to the Evaluate page."""
        rows = self.exports.selectionModel().selectedRows()
        if not rows:
            self.sig_message.emit("Select an export to evaluate")
            return
        job = self.exports_model.rows[rows[0].row()]
        if job["status"] != "completed":
            self.sig_message.emit("Only a completed export can be evaluated")
            return
        self.sig_evaluate.emit(str(job["id"]))

    def _request_export(self) -> None:
        if (checkpoint := self.current()) is not None:
            self.sig_export_requested.emit(checkpoint)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


__all__ = ["CHECKPOINT_ID_ROLE", "ModelsView"]
