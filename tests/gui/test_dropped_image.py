"""What the Inference test and Compare views take from a drag: the first image file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl
from pytestqt.qtbot import QtBot

from gui.views.inference import IMAGE_FILTER, dropped_image


def test_the_first_image_among_dropped_files_is_taken(qtbot: QtBot, tmp_path: Path) -> None:
    mime = QMimeData()
    names = ["notes.txt", "shot.PNG", "photo.jpg"]
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / n)) for n in names])
    assert dropped_image(mime) == tmp_path / "shot.PNG"  # suffixes in any case
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "model.onnx"))])
    assert dropped_image(mime) is None  # nothing for an image view: the drag is not accepted
    assert "*.png" in IMAGE_FILTER and "*.webp" in IMAGE_FILTER
