"""A shareable link to an export's package in S3: upload it if it is not there yet, then presign.

Network work, so it runs off the UI thread (``run_in_thread``); the answer comes back as a
signal, and a failure also reaches the notification bar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.errors import SlipwayError
from core.packaging.download import ZIP_NAME
from core.settings import Settings
from core.storage.base import export_key
from gui.thread_task import run_in_thread


def s3_configured() -> bool:
    try:
        settings = Settings.load()
    except SlipwayError:
        return False
    return settings.storage_backend == "s3" and bool(settings.s3_bucket)


def package_link(job_id: str, package_dir: Path) -> str:
    """Upload the package zip to ``exports/<id>/`` unless it is there, and return a presigned URL."""
    settings = Settings.load()
    storage = settings.s3_storage()
    key = export_key(job_id, ZIP_NAME)
    if not storage.exists(key):
        storage.upload(Path(package_dir) / ZIP_NAME, key)
    return storage.share_url(key, settings.presign_expiry_s)


class PackageLinker(QObject):
    sig_link = Signal(str, str)
    """(job_id, url): the package is in S3 and this link downloads it."""
    sig_failed = Signal(str, str)
    """(job_id, message): why no link could be made."""

    def request(self, job_id: str, package_dir: Path) -> None:
        run_in_thread(lambda: package_link(job_id, package_dir), what="Making the S3 link", owner=self,
                      on_result=lambda url: self.sig_link.emit(job_id, url),
                      on_error=lambda message, _err: self.sig_failed.emit(job_id, message))
