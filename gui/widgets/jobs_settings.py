"""Settings → Jobs: how many exports the app runs at once, and how long one may run."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSpinBox, QWidget

from gui.job_queue import automatic_limit
from gui.preferences import LONGEST_TIMEOUT_MIN, MOST_PARALLEL_EXPORTS, Preferences


class JobsSettings(QGroupBox):
    """The "Jobs" section; its values are saved with the app's preferences."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Jobs", parent)
        form = QFormLayout(self)
        self.parallel = QSpinBox()
        self.parallel.setRange(0, MOST_PARALLEL_EXPORTS)
        self.parallel.setSpecialValueText(f"automatic ({automatic_limit()} on this machine)")
        self.parallel.setToolTip(
            "Exports started in the app beyond this many wait, queued, until "
            "one ends (exports run from the CLI are not counted)"
        )
        self.timeout = QSpinBox()
        self.timeout.setRange(0, LONGEST_TIMEOUT_MIN)
        self.timeout.setSuffix(" min")
        self.timeout.setSpecialValueText("no limit")
        self.timeout.setToolTip("An export running longer is stopped and recorded failed")
        form.addRow("Exports at once", self.parallel)
        form.addRow("Timeout per export", self.timeout)
        note = QLabel(
            "Automatic: 1 on a machine with 4 CPU cores or fewer or under 16 GiB of "
            "memory, else 2. Queued exports run only while the app is open."
        )
        note.setWordWrap(True)
        form.addRow("", note)

    def load(self, prefs: Preferences) -> None:
        self.parallel.setValue(prefs.max_parallel_exports)
        self.timeout.setValue(prefs.export_timeout_min)

    def values(self) -> dict[str, Any]:
        """The preferences this section sets."""
        return {"max_parallel_exports": self.parallel.value(), "export_timeout_min": self.timeout.value()}
