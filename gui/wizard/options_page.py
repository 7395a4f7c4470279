"""Wizard step 2: the model's options, the format's settings, the optimization panels.

Every change rebuilds the spec and validates it with ``ExportSpec``; a problem is
shown on the page, naming the field, and the wizard will not go on until it is fixed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from core import formats
from core.spec import FORMAT_CONFIGS, ExportSpec
from gui.widgets.model_form import ModelForm
from gui.wizard.optimization_panels import OptimizationPanels

if TYPE_CHECKING:
    from gui.wizard.export_wizard import ExportWizard


def _choices(field: str) -> list[str]:
    return [str(a) for a in get_args(ExportSpec.model_fields[field].annotation)]


class OptionsPage(QWizardPage):
    def __init__(self, wizard: ExportWizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("2 · Options")
        self.setSubTitle("Settings of the chosen format, and optional optimization and validation.")
        content = QWidget()
        column = QVBoxLayout(content)
        general = QGroupBox("Model")
        form = QFormLayout(general)
        checkpoint = wizard.checkpoint
        self.framework = QComboBox()
        self.framework.addItems(_choices("framework"))
        self.framework.setCurrentText(checkpoint.framework if checkpoint.framework in _choices("framework")
                                      else "auto")
        self.task = QComboBox()
        self.task.addItems(_choices("task"))
        self.task.setCurrentText(checkpoint.task if checkpoint.task in _choices("task") else "auto")
        self.model_name = QLineEdit(checkpoint.model_name or "")
        self.model_name.setPlaceholderText("timm architecture, e.g. resnet18 (bare state dicts only)")
        self.input_size = QSpinBox()
        self.input_size.setRange(31, 4096)
        self.input_size.setSpecialValueText("model default")
        self.input_size.setValue(31)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 1024)
        form.addRow("Framework", self.framework)
        form.addRow("Task", self.task)
        form.addRow("Architecture", self.model_name)
        form.addRow("Input size", self.input_size)
        form.addRow("Batch size", self.batch_size)
        column.addWidget(general)
        self.format_box = QGroupBox("Format settings")
        self.format_layout = QVBoxLayout(self.format_box)
        self.format_form: ModelForm | None = None
        column.addWidget(self.format_box)
        self.panels = OptimizationPanels()
        optimization = QGroupBox("Optimization and validation")
        QVBoxLayout(optimization).addWidget(self.panels)
        column.addWidget(optimization)
        column.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b71c1c;")
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.advice.setStyleSheet("color: #8d6e00;")
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.advice)
        for combo in (self.framework, self.task):
            combo.currentTextChanged.connect(self.owner.revalidate)
        self.model_name.textChanged.connect(self.owner.revalidate)
        self.input_size.valueChanged.connect(self.owner.revalidate)
        self.batch_size.valueChanged.connect(self.owner.revalidate)
        self.panels.sig_changed.connect(self.owner.revalidate)

    def initializePage(self) -> None:
        fmt = self.owner.export_format
        if self.format_form is None or self.format_form.model is not FORMAT_CONFIGS[fmt]:
            if self.format_form is not None:
                self.format_form.deleteLater()
            self.format_form = ModelForm(FORMAT_CONFIGS[fmt])
            for name, value in self.owner.format_defaults.get(fmt, {}).items():
                self.format_form.set_value(name, value)
            self.format_form.sig_changed.connect(self.owner.revalidate)
            self.format_layout.addWidget(self.format_form)
            self.format_box.setTitle(f"{formats.get(fmt).title} settings")
        self.panels.set_format(fmt)  # the quantization methods this format has
        self.owner.revalidate()

    def spec_fields(self) -> dict[str, Any]:
        data: dict[str, Any] = {"framework": self.framework.currentText(), "task": self.task.currentText()}
        if self.model_name.text().strip() and data["framework"] in ("timm", "auto"):
            data["model_name"] = self.model_name.text().strip()
        if self.input_size.value() >= 32:
            data["input_size"] = self.input_size.value()
        if self.batch_size.value() != 1:
            data["batch_size"] = self.batch_size.value()
        if self.format_form is not None and (config := self.format_form.values()):
            data["export_config"] = config
        data.update(self.panels.spec_sections())
        return data

    def show_problems(self, problem: str, advice: list[str]) -> None:
        self.problem.setText(problem)
        self.advice.setText("\n".join(f"⚠ {a}" for a in advice))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.owner.spec is not None
