"""The export history: a table over HistoryModel, its actions, and the detail pane."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QInputDialog,
    QMessageBox,
    QSplitter,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.deployments import DeploymentService
from core.errors import SlipwayError
from core.jobs import JobService
from gui.detached_jobs import DetachedJobs
from gui.export_runner import ExportRunner
from gui.models.formatting import export_label
from gui.models.history_model import COLUMNS, MODEL_COLUMN, PROGRESS_COLUMN, HistoryModel
from gui.package_link import PackageLinker, s3_configured
from gui.store_watcher import LiveRead, StoreWatcher
from gui.widgets.confirm import confirm_destructive
from gui.widgets.inspect_dialog import InspectDialog, inspect_export
from gui.widgets.job_detail import JobDetailPane
from gui.widgets.progress_delegate import ProgressDelegate

if TYPE_CHECKING:  # the benchmark panel (and core.benchmark) load when first opened
    from gui.widgets.benchmark_panel import BenchmarkDialog

NO_STORAGE = "S3 storage is not configured: set a bucket in Settings → Storage"


class HistoryView(QWidget):
    sig_test = Signal(str)
    """export_id: open it in the inference test view."""
    sig_deploy = Signal(str)
    """export_id: deploy it (the deployments view)."""
    sig_message = Signal(str)
    """A sentence for the status bar."""
    sig_deleted = Signal(str)
    """export_id: an export (and any deployments it had) was deleted."""

    def __init__(self, service: JobService, runner: ExportRunner, parent: QWidget | None = None,
                 deployments: DeploymentService | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.deployment_service = deployments or DeploymentService(service.db)
        self.detached: DetachedJobs | None = None
        """Jobs running without this app (kept running at a quit); the main window sets it."""
        self.runner = runner
        self.model = HistoryModel(service, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PROGRESS_COLUMN, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(PROGRESS_COLUMN, 130)
        header.setStretchLastSection(True)
        self.detail = JobDetailPane()
        self.detail.sig_benchmark.connect(self.benchmark)
        self.linker = PackageLinker(self)
        self.linker.sig_link.connect(self._link_ready)
        self.linker.sig_failed.connect(lambda _id, message: self.sig_message.emit(
            f"No S3 link: {message}"))
        self.toolbar = QToolBar()
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, slot in (
            ("cancel", "Cancel", self.cancel), ("open", "Open folder", self.open_folder),
            ("s3", "Copy S3 link", self.copy_s3_link), ("test", "Test", self.test),
            ("inspect", "Inspect…", self.inspect),
            ("deploy", "Deploy", self.deploy), ("default", "Set default", self.set_default),
            ("tag", "Tag…", self.tag), ("delete", "Delete…", self.delete),
            ("refresh", "Refresh", self.refresh),
        ):
            action = self.toolbar.addAction(text)
            action.triggered.connect(slot)
            self.actions_by_name[name] = action
        self.toolbar.addSeparator()
        self.all_models = self.toolbar.addAction("All models")
        self.all_models.setCheckable(True)
        self.all_models.setToolTip("Show the exports of every model, not only the selected one")
        self.all_models.toggled.connect(self._scope_changed)
        self.checkpoint_id: str | None = None
        self.table.setColumnHidden(MODEL_COLUMN, True)  # one model's exports: its name is known
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setSizes([360, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        layout.addWidget(split, 1)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.modelReset.connect(self.update_actions)
        self.model.dataChanged.connect(self._row_changed)
        runner.sig_event.connect(self.model.apply_event)
        runner.sig_event.connect(self._live_log)
        runner.sig_finished.connect(self._job_finished)
        runner.sig_started.connect(lambda _job_id: self.refresh())
        self.update_actions()

    # --- selection ------------------------------------------------------------

    def set_checkpoint(self, checkpoint_id: str | None) -> None:
        """The model whose exports are listed (unless 'All models' is on)."""
        self.checkpoint_id = checkpoint_id
        self.model.set_checkpoint(None if self.all_models.isChecked() else checkpoint_id)
        self.table.setColumnHidden(MODEL_COLUMN, not self.all_models.isChecked())
        self.detail.show_job(None)

    def _scope_changed(self, _all: bool) -> None:
        self.set_checkpoint(self.checkpoint_id)

    def refresh(self) -> None:
        selected = self.selected_job()
        self.model.refresh()
        if selected is not None:
            self.select(selected["id"])

    def follow(self, watcher: StoreWatcher) -> LiveRead:
        """Rows follow the store: exports run elsewhere (the CLI) appear, progress and settle."""
        return LiveRead(watcher, self.model.read, self._store_read, self, "Reading the export history")

    def _store_read(self, read: Any) -> None:
        selected = self.selected_job()
        if self.model.apply_jobs(read) and selected is not None:
            self.select(selected["id"])
        now = self.selected_job()
        if now is not None and selected is not None and now["id"] == selected["id"] and (
                now["status"] != selected["status"]):
            self.detail.show_job(now)
        self.update_actions()

    def select(self, job_id: str) -> None:
        row = self.model.row_of(job_id)
        if row >= 0:
            self.table.selectRow(row)

    def selected_job(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.job_at(rows[0].row()) if rows else None

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.detail.show_job(self.selected_job())
        self.update_actions()

    def _row_changed(self) -> None:
        job = self.selected_job()
        if job is not None and self.detail.job is not None and job["id"] == self.detail.job["id"]:
            self.update_actions()

    def _live_log(self, job_id: str, event: dict[str, Any]) -> None:
        """The selected running job's log pane follows its worker's messages."""
        shown = self.detail.job
        if shown is None or shown["id"] != job_id:
            return
        text = event.get("message", "")
        if event.get("type") == "progress":
            text = f"[{event.get('percent', 0):5.1f}% {event.get('stage', '')}] {text}"
        if text:
            self.detail.log.appendPlainText(str(text))

    def _job_finished(self, job_id: str, job: Any) -> None:
        self.model.update_job(job)
        selected = self.selected_job()
        if selected is not None and selected["id"] == job_id:
            self.detail.show_job(selected)
        self.update_actions()

    def update_actions(self) -> None:
        job = self.selected_job()
        status = job["status"] if job else None
        on = self.actions_by_name
        on["cancel"].setEnabled(job is not None and (self.runner.is_running(job["id"])
                                                     or self.runner.is_queued(job["id"]) or (
            status == "running" and self.detached is not None and job["id"] in self.detached.waiting)))
        on["open"].setEnabled(job is not None and Path(job["package_dir"]).is_dir())
        for name in ("test", "deploy", "default", "inspect"):
            on[name].setEnabled(status == "completed")
        on["tag"].setEnabled(job is not None)
        on["delete"].setEnabled(job is not None and status not in ("running", "queued"))
        configured = s3_configured()
        on["s3"].setEnabled(status == "completed" and configured)
        on["s3"].setToolTip("Copy a download link of the package" if configured else NO_STORAGE)

    # --- actions -----------------------------------------------------------------

    def cancel(self) -> None:
        job = self.selected_job()
        if job and (self.runner.cancel(job["id"]) or (self.detached is not None
                                                       and self.detached.cancel(job["id"]))):
            self.sig_message.emit(f"Cancelling export v{job['version']}…")
            self.update_actions()

    def open_folder(self) -> None:
        job = self.selected_job()
        if job:
            QDesktopServices.openUrl(QUrl.fromLocalFile(job["package_dir"]))

    def copy_s3_link(self) -> None:
        """Upload the package if needed (off the UI thread), then copy a presigned link."""
        job = self.selected_job()
        if job is None:
            return
        self.sig_message.emit(f"Uploading v{job['version']}'s package to S3…")
        self.linker.request(job["id"], Path(job["package_dir"]))

    def _link_ready(self, job_id: str, url: str) -> None:
        QGuiApplication.clipboard().setText(url)
        self.sig_message.emit(f"S3 link for {job_id[:8]} copied to the clipboard")

    def test(self) -> None:
        if job := self.selected_job():
            self.sig_test.emit(job["id"])

    def inspect(self) -> InspectDialog | None:
        """The selected export's inputs, outputs, ops, parameters and versions (a child reads them)."""
        if job := self.selected_job():
            label = export_label(job.get("model"), job["version"], job["export_format"])
            return inspect_export(job, label, self)
        return None

    def benchmark(self, checkpoint_id: str, report: Path | None = None) -> BenchmarkDialog:
        """The benchmark panel for this export's model, showing the package's report when it has one."""
        checkpoint = next((c for c in self.service.checkpoints() if c.id == checkpoint_id), None)
        from gui.widgets.benchmark_panel import open_benchmark

        return open_benchmark(self, checkpoint, report)

    def deploy(self) -> None:
        if job := self.selected_job():
            self.sig_deploy.emit(job["id"])

    def set_default(self) -> None:
        if job := self.selected_job():
            self._apply(lambda: self.service.set_default(job["id"]), f"v{job['version']} is the default")

    def tag(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        text, ok = QInputDialog.getText(self, "Tag export", "Tag:", text=job["version_tag"] or "")
        if ok:
            self._apply(lambda: self.service.tag(job["id"], text), f"tagged v{job['version']} {text!r}")

    def confirm(self, question: str, action: str = "Delete") -> bool:
        """Ask before something that cannot be undone; ``action`` names the button that does it."""
        return confirm_destructive(self, question, action)

    def model_name(self, job: dict[str, Any]) -> str:
        names = {c.id: c.name for c in self.service.checkpoints()}
        return names.get(job["checkpoint_id"], "a removed model")

    def delete(self) -> None:
        """Delete the selected export; its deployments (if any) are named first and go with it."""
        job = self.selected_job()
        if job is None:
            return
        what = f"export {export_label(self.model_name(job), job['version'], job['export_format'])}"
        live = self.deployment_service.list_deployments(export_id=job["id"])
        if live:
            names = "; ".join(f"{t.name} ({t.status})" for t in live)
            count = f"{len(live)} deployment{'s' if len(live) != 1 else ''}"
            question = (f"Delete {what}? It has {count}: {names}. They are deleted with it: their "
                        "API keys stop working and their packages leave the Deployments page. "
                        "This cannot be undone.")
            action = "Delete export and deployments"
        else:
            question = f"Delete {what} and its package folder? This cannot be undone."
            action = "Delete"
        if not self.confirm(question, action):
            return

        def change() -> None:
            for target in live:
                self.deployment_service.delete(target.id)
            self.service.delete(job["id"])

        if self._apply(change, f"Deleted {what}"):
            self.sig_deleted.emit(job["id"])

    def _apply(self, change: Any, done: str) -> bool:
        try:
            change()
        except SlipwayError as err:
            QMessageBox.warning(self, "Slipway", err.message)
            return False
        self.refresh()
        self.sig_message.emit(done)
        return True


__all__ = ["COLUMNS", "HistoryView"]
