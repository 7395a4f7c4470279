"""Deployments: a card per deployment, the create wizard, the history timeline and the local endpoint server.

Endpoint deployments are recorded directly through ``DeploymentService``. Every
package type (download, edge, container: the ``core.packaging`` registry) is built
the same way, by the same ``core.packaging.package`` the CLI's ``slipway package``
calls, off the UI thread (``run_in_thread``); its progress shows in the status line,
and a failure (a SlipwayError's own message) in the notification bar. An export of
the wrong format is refused before any work starts.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core import packaging
from core.db import DeploymentTarget, DeploymentType, ExportJob, JobStatus
from core.deployments import DeploymentService, deployment_summary
from core.endpoint_snippets import curl_snippet, infer_url, python_snippet
from core.errors import BadInput, SlipwayError
from core.jobs import JobService
from gui.deploy_wizard import ENDPOINT, DeployChoice, DeployWizard, ExportOption
from gui.models.formatting import display_path, export_label
from gui.preferences import Preferences
from gui.server_process import ServerProcess, ServerState
from gui.store_watcher import LiveRead, StoreWatcher
from gui.thread_task import ThreadTask, errors, run_in_thread
from gui.usage_monitor import UsageMonitor
from gui.widgets.confirm import confirm_destructive
from gui.widgets.deployment_card import DeploymentCard
from gui.widgets.endpoint_keys import KeysPanel
from gui.widgets.history_timeline import HistoryTimeline

SERVER_STATE_TEXT = {ServerState.STOPPED: "Endpoint server: stopped",
                     ServerState.STARTING: "Endpoint server: starting…",
                     ServerState.RUNNING: "Endpoint server: running",
                     ServerState.STOPPING: "Endpoint server: stopping…",
                     ServerState.FAILED: "Endpoint server: failed (see its log)"}


EMPTY_ALL = "No deployments yet. Use “New deployment…” to serve or package an export."
EMPTY_ONE = "No deployments of “{model}”. Choose “All models” to see every deployment."


def progress_line(event: dict[str, Any]) -> str:
    """One packaging progress event as a status line."""
    if event.get("stage") == "upload":
        return f"uploading {event.get('key', '')}: {float(event.get('percent', 0)):.0f}%"
    return f"{float(event.get('percent', 0)):.0f}% {event.get('message', '')}".strip()


Cards = tuple[str | None, dict[str, str], dict[str, ExportJob], list[DeploymentTarget]]
"""(the model shown or None, model names, its exports, their deployments)."""


def _fingerprint(cards: Cards) -> tuple[Any, ...]:
    """What the cards show, less the usage counters (the usage monitor keeps those live)."""
    shown, names, jobs, targets = cards
    return shown, tuple(names.items()), tuple(
        (t.id, t.name, t.status, t.tier, repr(t.deployment_config), jobs[t.export_job_id].version,
         jobs[t.export_job_id].export_package_path) for t in targets)


class DeploymentsView(QWidget):
    sig_export_requested = Signal(str, str)
    """(export_id, format): make an export of that format from this export's model."""

    def __init__(self, jobs: JobService, deployments: DeploymentService,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs, self.deployments = jobs, deployments
        self.checkpoint_id: str | None = None
        self.preselected_export: str | None = None
        self.selected: str | None = None
        self.cards: dict[str, DeploymentCard] = {}
        self._cards: Cards = (None, {}, {}, [])
        self.server = ServerProcess(parent=self)
        self.server.sig_state_changed.connect(self._server_state)
        self.server.sig_listening.connect(lambda _url: self.refresh())
        self.packaging: ThreadTask | None = None
        self.usage = UsageMonitor(deployments, self)  # live while this page is on screen
        self.usage.sig_updated.connect(self.show_usage)

        new = QPushButton("New deployment…")
        new.clicked.connect(self.open_wizard)
        self.model_filter = QComboBox()
        self.model_filter.setToolTip("Show the deployments of one model, or of all")
        self.model_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_filter.currentIndexChanged.connect(lambda _index: self.refresh())
        self.server_status = QLabel(SERVER_STATE_TEXT[ServerState.STOPPED])
        self.server_url = QLabel("")
        self.server_url.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("any port")
        self.port.setToolTip("Port for the endpoint server (0: any free port); remembered")
        self.port.setValue(Preferences.load().endpoint_port)
        self.port.editingFinished.connect(self.save_port)
        self.fresh_key: tuple[str, str] | None = None  # (deployment id, secret) until "I saved it"
        self.server_button = QPushButton("Start server")
        self.server_button.clicked.connect(self.toggle_server)
        top = QHBoxLayout()
        top.addWidget(new)
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_filter)
        top.addStretch(1)
        top.addWidget(self.server_status)
        top.addWidget(self.server_url)
        top.addWidget(self.port)
        top.addWidget(self.server_button)

        self.key_banner = QFrame()
        self.key_banner.setObjectName("keyBanner")
        self.key_banner.setStyleSheet("#keyBanner { background: #fff8e1; border: 1px solid #f9a825; }")
        self.key_title = QLabel("")
        self.key_title.setWordWrap(True)
        self.key_field = QLineEdit()
        self.key_field.setReadOnly(True)
        copy = QPushButton("Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.key_field.text()))
        dismiss = QPushButton("I saved it")
        dismiss.clicked.connect(self.dismiss_key)
        banner = QHBoxLayout(self.key_banner)
        banner.addWidget(self.key_title)
        banner.addWidget(self.key_field, 1)
        banner.addWidget(copy)
        banner.addWidget(dismiss)
        self.key_banner.hide()

        self.card_list = QVBoxLayout()
        self.card_list.addStretch(1)
        holder = QWidget()
        holder.setLayout(self.card_list)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.empty = QLabel(EMPTY_ALL)
        self.empty.setWordWrap(True)
        self.card_list.insertWidget(0, self.empty)
        self.timeline = HistoryTimeline()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        self.keys = KeysPanel(deployments)
        self.keys.sig_key_issued.connect(
            lambda name, secret: self.show_key(name, secret, self.keys.deployment_id))
        self.keys.sig_message.connect(self.status.setText)
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.timeline, "History")
        self.side_tabs.addTab(self.keys, "API keys")
        split.addWidget(self.side_tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.key_banner)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.refresh()

    # --- the contract with the main window ------------------------------------------------

    def set_checkpoint(self, checkpoint_id: str | None) -> None:
        """The Models page's selection: remembered, never a hidden filter (the Model box is the
        filter, and it says what it shows)."""
        self.checkpoint_id = checkpoint_id
        self.refresh()

    def filter_model(self, checkpoint_id: str | None) -> None:
        """Show one model's deployments (None: all)."""
        self.model_filter.setCurrentIndex(max(0, self.model_filter.findData(checkpoint_id)))

    @property
    def shown_model(self) -> str | None:
        """The checkpoint whose deployments are listed, or None for all models."""
        data = self.model_filter.currentData()
        return str(data) if data else None

    def _fill_model_filter(self, names: dict[str, str]) -> None:
        shown = self.shown_model
        self.model_filter.blockSignals(True)
        self.model_filter.clear()
        self.model_filter.addItem("All models", None)
        for checkpoint_id, name in names.items():
            self.model_filter.addItem(name, checkpoint_id)
        self.model_filter.setCurrentIndex(max(0, self.model_filter.findData(shown)))
        self.model_filter.blockSignals(False)

    def select_export(self, export_id: str) -> None:
        self.preselected_export = export_id

    # --- listing ---------------------------------------------------------------------------

    def completed_exports(self) -> list[ExportOption]:
        names = {c.id: c.name for c in self.jobs.checkpoints()}
        return [ExportOption(job.id, f"{names.get(job.checkpoint_id, '?')} · {job.export_format} "
                                     f"v{job.version}", job.export_format)
                for job in self.jobs.list_jobs(self.shown_model) if job.status == JobStatus.COMPLETED]

    def refresh(self) -> None:
        self.show_cards(self.read_cards(self.shown_model))

    def read_cards(self, shown: str | None) -> Cards:
        """What the cards show for one model's deployments (None: all), from the store (any thread)."""
        names = {c.id: c.name for c in self.jobs.checkpoints()}
        jobs = {job.id: job for job in self.jobs.list_jobs(shown)}
        return shown, names, jobs, [t for t in self.deployments.list_deployments() if t.export_job_id in jobs]

    def follow(self, watcher: StoreWatcher) -> LiveRead:
        """Cards follow the store: deployments made, switched or deleted elsewhere (the CLI).
        Usage counters are the usage monitor's; a change of them alone rebuilds no card."""
        return LiveRead(watcher, lambda: self.read_cards(self._cards[0]), self._store_read, self,
                        "Reading the deployments")

    def _store_read(self, cards: Cards) -> None:
        if cards[0] == self.shown_model and _fingerprint(cards) != _fingerprint(self._cards):
            self.show_cards(cards)

    def show_cards(self, cards: Cards) -> None:
        self._cards = cards
        _shown, names, jobs, targets = cards
        for card in self.cards.values():
            self.card_list.removeWidget(card)
            card.hide()
            card.deleteLater()
        self.cards = {}
        self._fill_model_filter(names)
        for target in reversed(targets):  # newest first
            summary = deployment_summary(target)
            job = jobs[target.export_job_id]
            summary["export_label"] = export_label(names.get(job.checkpoint_id), job.version,
                                                   job.export_format)
            location = (summary["config"].get("package_path")
                        or (job.export_package_path if target.deployment_type == DeploymentType.DOWNLOAD
                            else job.package_dir))
            card = DeploymentCard(summary, display_path(location), self.server.url)
            card.sig_toggle.connect(self.toggle)
            card.sig_selected.connect(self.show_history)
            card.sig_copy.connect(self.copy)
            card.show_usage(self.usage.series.of(target.id), None)
            card.sig_delete.connect(self.delete_deployment)
            self.card_list.insertWidget(self.card_list.count() - 1, card)
            self.cards[target.id] = card
        self.empty.setVisible(not self.cards)
        self.empty.setText(EMPTY_ALL if self.shown_model is None else EMPTY_ONE.format(
            model=self.model_filter.currentText()))
        if self.selected in self.cards:
            self.show_history(self.selected)
        elif self.cards:
            self.show_history(next(iter(self.cards)))
        else:
            self.timeline.show_history("—", [])
            self.keys.set_deployment(None)

    def show_usage(self) -> None:
        """New live usage readings: every endpoint card's chart and totals."""
        for deployment_id, card in self.cards.items():
            card.show_usage(self.usage.series.of(deployment_id), self.usage.series.totals(deployment_id))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.usage.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self.usage.stop()
        super().hideEvent(event)

    def show_history(self, deployment_id: str) -> None:
        self.selected = deployment_id
        try:
            target = self.deployments.get(deployment_id)
            history = self.deployments.history(deployment_id)
        except BadInput:  # purged since its card was read (its export deleted): the next read drops it
            self.timeline.show_history("—", [])
            self.keys.set_deployment(None)
            return
        self.timeline.show_history(target.name, history)
        self.keys.set_deployment(deployment_id)

    # --- actions -------------------------------------------------------------------------------

    def open_wizard(self) -> None:
        wizard = DeployWizard(self.completed_exports(), self.preselected_export, self)
        wizard.accepted.connect(lambda: self.create_deployment(wizard.choice()))
        wizard.sig_export_requested.connect(self.sig_export_requested)
        wizard.open()  # window-modal, not a nested event loop

    def create_deployment(self, choice: DeployChoice) -> str | None:
        """Record an endpoint (its id), or start building a package (None: it appears when built)."""
        try:
            if choice.kind == ENDPOINT:
                target = self.deployments.create(choice.export_id, ENDPOINT, tier=choice.tier)
                key = self.deployments.create_key(target.id, tier=choice.tier)
                self.selected = target.id
                self.refresh()
                self.show_key(target.name, key.secret, target.id)
                return target.id
            self.build_package(choice)
        except SlipwayError as err:
            self.status.setText(f"Could not create the deployment: {err.message}")
            errors().sig_error.emit(err.message)
        return None

    def build_package(self, choice: DeployChoice) -> ThreadTask | None:
        """Build and record the package off the UI thread; a wrong format is refused here, first."""
        if self.packaging is not None:
            self.status.setText("A package is already being built; wait for it to finish.")
            return None
        entry = packaging.get(choice.kind)
        if (why := entry.mismatch(self.jobs.get(choice.export_id).export_format)) is not None:
            raise BadInput(why + ".")  # before any work starts, in the app's words
        jobs, deployments = self.jobs, self.deployments

        def work(report: Any) -> dict[str, Any]:
            return packaging.package(choice.export_id, entry.name, jobs=jobs, deployments=deployments,
                                     progress=lambda event: report(progress_line(event)))

        self.status.setText(f"Building the {entry.title}…")
        self.packaging = run_in_thread(work, what=f"Building the {entry.title}", owner=self,
                                       on_result=self._package_done, on_error=self._package_failed,
                                       on_progress=lambda line: self.status.setText(
                                           f"Building the {entry.title}: {line}"))
        return self.packaging

    def _package_done(self, summary: dict[str, Any]) -> None:
        self.packaging = None
        self.selected = summary.get("deployment_id") or self.selected
        self.status.setText(f"Package ready: {display_path(summary.get('zip', ''))}")
        self.refresh()

    def _package_failed(self, message: str, _error: BaseException) -> None:
        self.packaging = None  # the notification bar shows the message too
        self.status.setText(f"Packaging failed: {message}")
        self.refresh()

    def show_key(self, name: str, secret: str, deployment_id: str | None = None) -> None:
        """The key exists in plain text only here, until dismissed: it is stored hashed."""
        self.fresh_key = (deployment_id, secret) if deployment_id else None
        self.key_title.setText(f"API key for “{name}” — shown once, copy it now:")
        self.key_field.setText(secret)
        self.key_banner.show()

    def dismiss_key(self) -> None:
        self.fresh_key = None
        self.key_field.clear()
        self.key_banner.hide()

    def toggle(self, deployment_id: str) -> None:
        try:
            target = self.deployments.get(deployment_id)
            if target.status == "active":
                self.deployments.deactivate(deployment_id)
            else:
                self.deployments.activate(deployment_id)
        except SlipwayError as err:
            self.status.setText(str(err))
        self.selected = deployment_id
        self.refresh()

    def delete_deployment(self, deployment_id: str) -> bool:
        """Delete a deployment after asking: its API keys are revoked, its timeline is kept."""
        target = self.deployments.get(deployment_id)
        job = self.jobs.get(target.export_job_id)
        names = {c.id: c.name for c in self.jobs.checkpoints()}
        of = export_label(names.get(job.checkpoint_id), job.version, job.export_format)
        if not confirm_destructive(self, f"Delete the deployment “{target.name}” of {of}? Its API "
                                         "keys stop working at once. This cannot be undone."):
            return False
        try:
            self.deployments.delete(deployment_id)
        except SlipwayError as err:
            self.status.setText(f"Could not delete the deployment: {err.message}")
            return False
        self.status.setText(f"Deleted the deployment “{target.name}”.")
        self.refresh()
        return True

    # --- the endpoint server ----------------------------------------------------------------

    def toggle_server(self) -> None:
        if self.server.running:
            self.server.stop()
        else:
            self.save_port()
            self.server.start(port=self.port.value())

    def save_port(self) -> None:
        """The port persists: the next start (and the next run of the app) uses it."""
        preferences = Preferences.load()
        if preferences.endpoint_port != self.port.value():
            preferences.endpoint_port = self.port.value()
            preferences.save()

    def base_url(self) -> str | None:
        """The running server's address, else the one it will have on its fixed port (None: any port)."""
        return self.server.url or (f"http://127.0.0.1:{self.port.value()}" if self.port.value() else None)

    def copy(self, deployment_id: str, what: str) -> str:
        """Put the endpoint's URL, or a ready curl / Python call of it, on the clipboard."""
        secret = self.fresh_key[1] if self.fresh_key and self.fresh_key[0] == deployment_id else None
        base = self.base_url()
        text = {"url": lambda: infer_url(base, deployment_id),
                "curl": lambda: curl_snippet(base, deployment_id, secret),
                "python": lambda: python_snippet(base, deployment_id, secret)}[what]()
        QGuiApplication.clipboard().setText(text)
        key_note = "with the new key" if secret else "reading the key from $SLIPWAY_API_KEY"
        self.status.setText("Copied the URL" if what == "url" else
                            f"Copied a {'curl line' if what == 'curl' else 'Python (tritonclient) script'} "
                            f"{key_note}")
        return text

    def _server_state(self, state: str) -> None:
        self.server_status.setText(SERVER_STATE_TEXT.get(state, state))
        self.server_url.setText(self.server.url or "")
        self.server_button.setText("Stop server" if self.server.running else "Start server")
        self.server_button.setEnabled(state != ServerState.STOPPING)
        self.port.setEnabled(not self.server.running)
        if state in (ServerState.STOPPED, ServerState.FAILED):
            self.refresh()

    def closeEvent(self, event: object) -> None:
        self.server.stop()
        super().closeEvent(event)  # type: ignore[arg-type]

