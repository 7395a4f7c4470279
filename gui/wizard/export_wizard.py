"""The export wizard: format → options → review, ending in one validated ExportSpec."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtWidgets import QWidget, QWizard

from core import offers
from core.advice import optimization_warnings
from core.db import Checkpoint
from core.errors import SlipwayError
from core.spec import ExportSpec, format_validation_error
from gui.wizard.format_page import FormatPage
from gui.wizard.options_page import OptionsPage
from gui.wizard.review_page import ReviewPage
from gui.wizard.wording import in_app_words


class ExportWizard(QWizard):
    """``spec`` holds the validated spec (None while the choices are invalid)."""

    def __init__(self, checkpoint: Checkpoint, parent: QWidget | None = None,
                 onnx_opset: int | None = None) -> None:
        super().__init__(parent)
        self.checkpoint = checkpoint
        # the user's defaults (Settings), applied when a format's form is first built
        self.format_defaults: dict[str, dict[str, Any]] = (
            {"onnx": {"opset_version": onnx_opset}} if onnx_opset else {})
        self.spec: ExportSpec | None = None
        self.problem = ""
        self.advice: list[str] = []
        self.setWindowTitle(f"Slipway — export {checkpoint.name}")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.resize(900, 720)
        self.format_page = FormatPage(checkpoint.framework)
        self.options_page = OptionsPage(self)
        self.review_page = ReviewPage(self)
        for page in (self.format_page, self.options_page, self.review_page):
            self.addPage(page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Start export")

    @property
    def export_format(self) -> str:
        return self.format_page.chosen or "onnx"

    def spec_data(self) -> dict[str, Any]:
        """The spec as plain data, from every page's current choices."""
        data: dict[str, Any] = {"checkpoint": self.checkpoint.path, "export_format": self.export_format}
        data.update(self.options_page.spec_fields())
        return data

    def revalidate(self) -> None:
        """The spec, checked as the CLI checks it: its fields, then what this model and this
        machine can honour (core.offers); a problem keeps the wizard from going on."""
        try:
            spec = ExportSpec.model_validate(self.spec_data())
            framework = self.checkpoint.framework if spec.framework == "auto" else spec.framework
            task = self.checkpoint.task if spec.task == "auto" else spec.task
            offers.check(spec, framework, task)
        except ValidationError as err:
            self.spec, self.problem, self.advice = None, format_validation_error(err), []
        except SlipwayError as err:
            self.spec, self.problem, self.advice = None, err.message, []
        else:
            self.spec, self.problem, self.advice = spec, "", optimization_warnings(spec)
        self.problem = in_app_words(self.problem, self.export_format) if self.problem else ""
        self.options_page.show_problems(self.problem, self.advice)
