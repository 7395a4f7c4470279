"""An endpoint deployment's API keys: list them, issue one with a tier, revoke one.

Everything goes through ``DeploymentService`` (the same calls as ``slipway keys``);
a running server stops accepting a revoked key within a second. A new key's
secret leaves here once, in ``sig_key_issued``, for the view's shown-once banner.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.db import DeploymentType
from core.deployments import DeploymentService
from core.errors import SlipwayError
from core.tiers import LOCAL_TIER, TIERS, tier_label

COLUMNS = ("Key", "Name", "Tier", "Created", "Last used", "Status")


class KeysPanel(QWidget):
    sig_key_issued = Signal(str, str)
    """A key was made: the deployment's name and the secret (shown once)."""
    sig_message = Signal(str)
    """Something to say in the view's status line."""

    def __init__(self, deployments: DeploymentService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.deployments = deployments
        self.deployment_id: str | None = None
        self.key_ids: list[str] = []
        self.heading = QLabel("Select a local endpoint to manage its API keys.")
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.show_revoked = QCheckBox("Show revoked keys")
        self.show_revoked.toggled.connect(lambda _on: self.refresh())
        self.name = QLineEdit()
        self.name.setPlaceholderText("name (optional), e.g. notebook")
        self.tier = QComboBox()
        for name in TIERS:
            self.tier.addItem(tier_label(name), name)
        self.tier.setCurrentIndex(self.tier.findData(LOCAL_TIER))
        self.tier.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.tier.setMinimumContentsLength(16)
        self.issue_button = QPushButton("Issue key")
        self.issue_button.clicked.connect(self.issue)
        self.revoke_button = QPushButton("Revoke…")
        self.revoke_button.clicked.connect(self.revoke_selected)
        new_row = QHBoxLayout()
        new_row.addWidget(self.name, 1)
        new_row.addWidget(self.tier)
        new_row.addWidget(self.issue_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.show_revoked)
        bottom.addStretch(1)
        bottom.addWidget(self.revoke_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        layout.addWidget(QLabel("New key:"))
        layout.addLayout(new_row)
        self.set_deployment(None)

    def set_deployment(self, deployment_id: str | None) -> None:
        """Show this deployment's keys (an endpoint), or say why there are none."""
        target = self.deployments.get(deployment_id) if deployment_id else None
        is_endpoint = target is not None and target.deployment_type == DeploymentType.PLATFORM_ENDPOINT
        self.deployment_id = deployment_id if is_endpoint else None
        if target is None:
            self.heading.setText("Select a local endpoint to manage its API keys.")
        elif not is_endpoint:
            self.heading.setText(f"“{target.name}” is a package: packages have no API keys.")
        else:
            self.heading.setText(f"API keys of “{target.name}”. Slipway keeps only their hashes: "
                                 "a key is shown once, when it is issued.")
        for widget in (self.table, self.name, self.tier, self.issue_button, self.show_revoked):
            widget.setEnabled(is_endpoint)
        self.refresh()

    def refresh(self) -> None:
        self.table.setRowCount(0)
        self.key_ids = []
        if self.deployment_id is None:
            self._update_buttons()
            return
        for key in self.deployments.keys(self.deployment_id):
            if key.revoked_at is not None and not self.show_revoked.isChecked():
                continue
            row = self.table.rowCount()
            self.table.insertRow(row)
            values = (f"{key.prefix}…", key.name or "", key.tier, _when(key.created_at),
                      _when(key.last_used_at) or "never", "revoked" if key.revoked_at else "live")
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
            self.key_ids.append(key.id)
        self._update_buttons()

    def selected_key(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.key_ids[rows[0].row()] if rows else None

    def issue(self) -> str | None:
        """Make a key with the chosen tier and name; its id (the secret goes out in sig_key_issued)."""
        if self.deployment_id is None:
            return None
        try:
            new = self.deployments.create_key(self.deployment_id, tier=self.tier.currentData(),
                                              name=self.name.text().strip() or None)
        except SlipwayError as err:
            self.sig_message.emit(f"Could not issue a key: {err.message}")
            return None
        self.name.clear()
        self.refresh()
        self.sig_key_issued.emit(self.deployments.get(self.deployment_id).name, new.secret)
        self.sig_message.emit(f"Issued a key on the {new.tier} tier.")
        return new.id

    def confirm(self, question: str) -> bool:
        """Ask before revoking (tests replace this)."""
        answer = QMessageBox.question(self, "Revoke API key", question)
        return answer == QMessageBox.StandardButton.Yes

    def revoke_selected(self) -> None:
        key_id = self.selected_key()
        if key_id is None:
            return
        item = self.table.item(self.table.currentRow(), 0)
        prefix = item.text() if item is not None else key_id[:8]
        if not self.confirm(f"Revoke the key {prefix}? Programs using it stop getting answers within "
                            "a second. This cannot be undone."):
            return
        try:
            self.deployments.revoke_key(key_id)
        except SlipwayError as err:
            self.sig_message.emit(f"Could not revoke the key: {err.message}")
            return
        self.refresh()
        self.sig_message.emit(f"Revoked the key {prefix}")

    def _update_buttons(self) -> None:
        key_id = self.selected_key()
        row = self.table.currentRow()
        status = self.table.item(row, 5) if row >= 0 else None
        live = key_id is not None and status is not None and status.text() == "live"
        self.revoke_button.setEnabled(self.deployment_id is not None and live)


def _when(moment: object) -> str:
    return str(moment)[:16].replace("T", " ") if moment else ""
