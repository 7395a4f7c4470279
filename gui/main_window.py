"""The main window: navigation between the views, and the wiring between them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
    QWizard,
)

from core.db import Checkpoint, ExportJob
from core.deployments import DeploymentService
from core.jobs import JobService
from gui.closing import QuitGuard
from gui.cluster_exports import start_on_cluster
from gui.detached_jobs import DetachedJobs
from gui.export_runner import ExportRunner
from gui.menus import about_box, build_menus
from gui.models.formatting import display_path, export_label
from gui.preferences import Preferences
from gui.store_watcher import StoreWatcher
from gui.thread_task import errors
from gui.views.models import ModelsView
from gui.widgets.notification_bar import NotificationBar
from gui.window_state import StateKeeper, restore_splitters, restore_window

if TYPE_CHECKING:
    from gui.views.capabilities import CapabilitiesView
    from gui.views.compare import CompareView
    from gui.views.deployments import DeploymentsView
    from gui.views.evaluate import EvaluateView
    from gui.views.history import HistoryView
    from gui.views.inference import InferenceView
    from gui.views.settings import SettingsView
    from gui.wizard.export_wizard import ExportWizard

PAGES = ("Models", "Exports", "Inference test", "Compare", "Evaluate", "Deployments", "Capabilities",
         "Settings")


class MainWindow(QMainWindow):
    def __init__(self, service: JobService, deployments: DeploymentService | None = None) -> None:
        super().__init__()
        self.service = service
        self.deployment_service = deployments or DeploymentService(service.db)
        self.runner = ExportRunner(service, self)
        self._job_labels: dict[str, str] = {}
        self.quit_guard = QuitGuard(self, self.runner)
        self.detached = DetachedJobs(service, self.runner, self)
        self.setWindowTitle("Slipway — model export studio")
        self.resize(1280, 800)
        self.models = ModelsView(service, self.deployment_service)
        # the other pages are built (and their modules imported) when first shown: a shorter start
        self.pages: dict[str, QWidget] = {name: QWidget() for name in PAGES} | {"Models": self.models}
        self._built = {"Models"}
        self._checkpoint_id: str | None = None
        self.nav = QListWidget()
        self.nav.addItems(list(PAGES))
        self.nav.setFixedWidth(170)
        self.nav.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.nav.setStyleSheet("QListWidget { font-size: 14px; } QListWidget::item { padding: 9px 10px; }")
        self.stack = QStackedWidget()
        for page in self.pages.values():
            self.stack.addWidget(page)
        self.nav.currentRowChanged.connect(lambda row: self.stack.setCurrentWidget(self.page(PAGES[row])))
        self.notification = NotificationBar()
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(6, 6, 6, 6)
        body_layout.addWidget(self.notification)
        body_layout.addWidget(self.stack, 1)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(body, 1)
        self.setCentralWidget(central)
        self._wire()
        self.menu_actions = build_menus(self, PAGES)
        self.models.refresh()
        self.nav.setCurrentRow(0)
        last_page = restore_window(self, self.pages)  # where the user left things last time
        if last_page is not None:
            self.show_page(last_page)
        self.state_keeper = StateKeeper(self, self.pages, self.current_page)
        self.statusBar().showMessage(f"{self.models.model.rowCount()} models in the library")
        self.detached.start()

    def _wire(self) -> None:
        self.models.sig_checkpoint_selected.connect(self._checkpoint_selected)
        self.models.sig_export_requested.connect(self.open_wizard)
        self.models.sig_message.connect(self.statusBar().showMessage)
        self.models.sig_evaluate.connect(self.evaluate_export)
        self.runner.sig_event.connect(self._worker_event)
        self.runner.sig_finished.connect(self._export_finished)
        self.runner.sig_started.connect(lambda _id: self.show_page("Exports"))
        errors().sig_error.connect(self.show_error)
        self.quit_guard.sig_message.connect(self.statusBar().showMessage)
        self.detached.sig_settled.connect(self._detached_settled)
        self.store = StoreWatcher(self.service.db.path, self)  # every commit, the CLI's too
        self.live = [self.models.follow(self.store)]  # pages built later follow it from then on
        self.store.sig_changed.connect(self.detached.check)  # exports run from the CLI: cancellable

    # --- pages, built on first use ------------------------------------------------------

    def page(self, name: str) -> QWidget:
        """The page, built (and wired, its splitters restored) the first time it is asked for."""
        if name not in self._built:
            self._built.add(name)
            widget = self._build_page(name)
            placeholder = self.pages[name]
            self.pages[name] = widget
            self.stack.insertWidget(PAGES.index(name), widget)
            self.stack.removeWidget(placeholder)
            placeholder.deleteLater()
            restore_splitters({name: widget})
        return self.pages[name]

    def built(self, name: str) -> QWidget | None:
        """The page if it was built, without building it."""
        return self.pages[name] if name in self._built else None

    def _build_page(self, name: str) -> QWidget:
        if name == "Exports":
            from gui.views.history import HistoryView

            history = HistoryView(self.service, self.runner, deployments=self.deployment_service)
            history.sig_message.connect(self.statusBar().showMessage)
            history.sig_test.connect(self.test_export)
            history.sig_deploy.connect(self.deploy_export)
            history.sig_deleted.connect(self._export_deleted)
            history.detached = self.detached
            history.set_checkpoint(self._checkpoint_id)
            self.live.append(history.follow(self.store))
            return history
        if name == "Inference test":
            from gui.views.inference import InferenceView

            return InferenceView(self.service)
        if name == "Compare":
            from gui.views.compare import CompareView

            compare = CompareView(self.service)
            compare.set_checkpoint(self._checkpoint_id)
            return compare
        if name == "Deployments":
            from gui.views.deployments import DeploymentsView

            deployments = DeploymentsView(self.service, self.deployment_service)
            deployments.sig_export_requested.connect(self.export_as)
            deployments.set_checkpoint(self._checkpoint_id)
            self.live.append(deployments.follow(self.store))
            return deployments
        if name == "Evaluate":
            from gui.views.evaluate import EvaluateView

            evaluate = EvaluateView(self.service)
            evaluate.sig_open_image.connect(self.test_image)
            return evaluate
        if name == "Capabilities":
            from gui.views.capabilities import CapabilitiesView

            return CapabilitiesView()
        from gui.views.settings import SettingsView

        settings = SettingsView()
        settings.sig_message.connect(self.statusBar().showMessage)
        settings.sig_theme_changed.connect(self._apply_theme)
        settings.sig_saved.connect(self._settings_saved)
        return settings

    def _settings_saved(self) -> None:
        self.runner.queue.load_preferences()
        if self.built("Exports"):
            self.history.update_actions()

    @property
    def history(self) -> HistoryView:
        return cast("HistoryView", self.page("Exports"))

    @property
    def inference(self) -> InferenceView:
        return cast("InferenceView", self.page("Inference test"))

    @property
    def compare(self) -> CompareView:
        return cast("CompareView", self.page("Compare"))

    @property
    def evaluate(self) -> EvaluateView:
        return cast("EvaluateView", self.page("Evaluate"))

    @property
    def deployments(self) -> DeploymentsView:
        return cast("DeploymentsView", self.page("Deployments"))

    @property
    def capabilities(self) -> CapabilitiesView:
        return cast("CapabilitiesView", self.page("Capabilities"))

    @property
    def settings(self) -> SettingsView:
        return cast("SettingsView", self.page("Settings"))

    def closeEvent(self, event: QCloseEvent) -> None:
        """Running exports: ask first (gui.closing) — cancel and quit, keep running and quit, stay."""
        if self.quit_guard.allows_close():
            event.accept()
        else:
            event.ignore()

    def show_error(self, message: str) -> None:
        """Work done off the UI thread failed (gui.thread_task routes every such error here)."""
        self.notification.notify(message, "error")

    # --- navigation -----------------------------------------------------------------

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(PAGES.index(name))

    def current_page(self) -> str:
        return PAGES[max(0, self.nav.currentRow())]

    # --- menu and shortcut actions (each is what a view's own button does) ----------------

    def add_checkpoint(self) -> None:
        self.show_page("Models")
        self.models.choose_file()

    def export_current(self) -> None:
        checkpoint = self.models.current()
        if checkpoint is None:
            self.show_page("Models")
            self.statusBar().showMessage("Select a model to export first")
            return
        self.open_wizard(checkpoint)

    def find_model(self) -> None:
        self.show_page("Models")
        self.models.find_field.setFocus()
        self.models.find_field.selectAll()

    def delete_selected(self) -> None:
        """Delete what is selected on the current page, through that page's own Delete."""
        deletes: dict[str, Callable[[], None]] = {"Exports": self.history.delete}
        delete = deletes.get(self.current_page())
        if delete is not None:
            delete()
        else:
            self.statusBar().showMessage(f"Nothing to delete on the {self.current_page()} page")

    def show_about(self) -> QMessageBox:
        return about_box(self)

    def _checkpoint_selected(self, checkpoint_id: str | None) -> None:
        self._checkpoint_id = checkpoint_id  # pages built later start from it
        for name in ("Exports", "Compare", "Deployments"):
            if self.built(name):
                cast(Any, self.pages[name]).set_checkpoint(checkpoint_id)

    def test_export(self, export_id: str) -> None:
        self.inference.set_export(export_id)
        self.show_page("Inference test")

    def evaluate_export(self, export_id: str) -> None:
        self.evaluate.set_export(export_id)
        self.show_page("Evaluate")

    def test_image(self, export_id: str, image: str) -> None:
        """An image from the Evaluate view's gallery, in the Inference test view."""
        self.test_export(export_id)
        self.inference.load_image(Path(image))

    def deploy_export(self, export_id: str) -> None:
        self.deployments.select_export(export_id)
        self.show_page("Deployments")

    # --- exports ------------------------------------------------------------------------

    def open_wizard(self, checkpoint: Checkpoint) -> ExportWizard:
        from gui.wizard.export_wizard import ExportWizard

        preferences = Preferences.load()
        wizard = ExportWizard(checkpoint, self, onnx_opset=preferences.default_opset)
        if preferences.default_format in wizard.format_page.cards:
            wizard.format_page.choose(preferences.default_format)
        wizard.finished.connect(lambda result: self._wizard_done(wizard, result))
        wizard.open()
        return wizard

    def export_as(self, export_id: str, export_format: str) -> ExportWizard | None:
        """The export wizard for an export's model, with this format chosen (a package needs it)."""
        checkpoint_id = self.service.get(export_id).checkpoint_id
        checkpoint = next((c for c in self.service.checkpoints() if c.id == checkpoint_id), None)
        if checkpoint is None:
            return None
        wizard = self.open_wizard(checkpoint)
        if export_format in wizard.format_page.cards:
            wizard.format_page.choose(export_format)
        return wizard

    def _wizard_done(self, wizard: ExportWizard, result: int) -> None:
        if result == QWizard.DialogCode.Accepted and wizard.spec is not None:
            if start_on_cluster(self, wizard.spec):
                wizard.deleteLater()
                return
            job = self.runner.start(wizard.spec)
            if (place := self.runner.queue.position(job.id)) > 0:
                self.notification.notify(f"Export {self.job_label(job)} is queued (number {place} in "
                                         "line); it starts when a running export ends", "info")
            self.statusBar().showMessage(f"Export {self.job_label(job)} "
                                         f"{'queued' if place else 'started'}")
        wizard.deleteLater()

    def job_label(self, job: ExportJob) -> str:
        """An export for people, naming its model: “Shapes detector” v3 (onnx) (kept per job)."""
        if job.id not in self._job_labels:
            names = {c.id: c.name for c in self.service.checkpoints()}
            self._job_labels[job.id] = export_label(names.get(job.checkpoint_id), job.version,
                                                    job.export_format)
        return self._job_labels[job.id]

    def _worker_event(self, job_id: str, event: dict[str, Any]) -> None:
        if event.get("type") == "progress":
            label = self._job_labels.get(job_id) or self.job_label(self.service.get(job_id))
            self.statusBar().showMessage(
                f"Export {label}: {event.get('percent', 0):.0f}% {event.get('stage', '')} — "
                f"{event.get('message', '')}")

    def _export_finished(self, job_id: str, job: ExportJob) -> None:
        self.models.refresh_exports()
        label = self.job_label(job)
        if job.status == "completed":
            self.notification.notify(f"Export {label} completed: "
                                     f"{display_path(job.package_dir)}", "success")
        elif job.status == "cancelled":
            self.notification.notify(f"Export {label} was cancelled.", "info")
        else:
            self.notification.notify(f"Export {label} failed: {job.error_message}", "error")
        self.statusBar().showMessage(f"Export {label} {job.status}")

    def _export_deleted(self, _export_id: str) -> None:
        if self.built("Deployments"):
            self.deployments.refresh()  # its deployments went with it
        self.models.refresh_exports()

    def _detached_settled(self, jobs: list[ExportJob]) -> None:
        """Exports that ran on while the app was closed have ended: show their results."""
        if self.built("Exports"):
            self.history.refresh()
        self.models.refresh_exports()
        for job in jobs:
            self._export_finished(job.id, job)

    def _apply_theme(self, theme: str) -> None:
        from PySide6.QtWidgets import QApplication

        from gui.theme import apply_theme

        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
