"""Exports the app starts on a Ray cluster: checked off the UI thread, then started like any other.

When Settings say "Run exports on: Ray cluster at …", the wizard's export goes through
:func:`start_export`: the cluster is reached and asked for a node that can run the format
(``core.cluster.preflight``, on a pool thread: Ray's client and the network never block
the window); a refusal is a sentence in the app's words and no job row; otherwise the
runner starts the job with its ``cluster_address`` (its worker is the conductor,
``core.cluster_run``), and history, progress and package follow as for a local export.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from core.db import ExportJob
from core.errors import SlipwayError
from core.settings import Settings
from core.spec import ExportSpec
from gui.export_runner import ExportRunner
from gui.thread_task import ThreadTask, run_in_thread

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def refusal_message(err: BaseException, address: str) -> str:
    """Why an export was not started on the cluster, for people (and what they can do)."""
    if not isinstance(err, SlipwayError):
        return (f"The export was not started: checking the Ray cluster at {address} failed "
                f"unexpectedly ({type(err).__name__}: {err}).")
    details = err.details
    if "needs" in details:
        needs = " and ".join(f"{amount:g} {name}" for name, amount in details["needs"].items())
        why = f" ({details['why']})" if details.get("why") else ""
        return (f"The export was not started: none of the {details.get('nodes', 0)} machine(s) in the "
                f"Ray cluster at {address} has {needs}{why}. Choose another format, or run exports "
                f"on this machine in Settings.")
    if "extra" in details:
        return f"The export was not started: {err.message}"
    reason = err.message[:1].upper() + err.message[1:]
    return (f"The export was not started: {reason}. Check the cluster's address in Settings "
            f"(Where exports run), or run exports on this machine.")


def start_export(runner: ExportRunner, spec: ExportSpec, address: str, *,
                 on_started: Callable[[ExportJob], None], on_refused: Callable[[str], None],
                 owner: QObject | None = None) -> ThreadTask:
    """Check the cluster for this export off the UI thread, then start it there (or refuse)."""
    from core.cluster import preflight

    def started(_answer: object) -> None:
        try:
            job = runner.start(spec, cluster_address=address)
        except SlipwayError as err:  # an option the cluster's route cannot honour: no job either
            on_refused(f"The export was not started: {err.message}")
            return
        on_started(job)

    def check() -> None:
        preflight(address, spec.export_format)

    def refused(_message: str, err: BaseException) -> None:
        on_refused(refusal_message(err, address))

    return run_in_thread(check, what=f"Checking the Ray cluster at {address}", owner=owner, notify=False,
                         on_result=started, on_error=refused)


def start_on_cluster(window: MainWindow, spec: ExportSpec) -> bool:
    """The wizard's export, when Settings send exports to a cluster: checked there and started,
    or refused in the notification bar. False: exports run on this machine (the caller starts it)."""
    try:
        address = Settings.load().export_cluster()
    except SlipwayError as err:
        window.notification.notify(f"The export was not started: {err.message}", "error")
        return True
    if address is None:
        return False
    window.statusBar().showMessage(f"Checking the Ray cluster at {address}…")

    def started(job: ExportJob) -> None:
        window.statusBar().showMessage(f"Export {window.job_label(job)} started on the Ray cluster "
                                       f"at {address}")

    def refused(message: str) -> None:
        window.statusBar().showMessage("Export not started")
        window.notification.notify(message, "error")

    start_export(window.runner, spec, address, on_started=started, on_refused=refused, owner=window)
    return True
