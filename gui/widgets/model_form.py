"""A form built from a pydantic model's fields: the wizard's per-format settings.

The fields, their choices, ranges and defaults come from the model itself
(``core.spec``'s ``*Config`` classes), so a new option appears here without a
second hand-written list. ``values()`` returns only what differs from the
defaults, which keeps the spec JSON short and equal to what the CLI would take.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from gui.widgets.path_edit import PathEdit


def _choices(annotation: Any) -> tuple[Any, ...] | None:
    return get_args(annotation) if get_origin(annotation) is Literal else None


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for item in info.metadata:
        if isinstance(item, Ge | Gt):
            low = float(item.ge if isinstance(item, Ge) else item.gt)  # type: ignore[arg-type]
        if isinstance(item, Le | Lt):
            high = float(item.le if isinstance(item, Le) else item.lt)  # type: ignore[arg-type]
    return low, high


def field_default(info: FieldInfo) -> Any:
    """The field's default, made by its default_factory when it has one (PydanticUndefined: required)."""
    return info.get_default(call_default_factory=True) if info.default_factory is not None else info.default


def label_for(name: str, info: FieldInfo | None = None) -> str:
    """The field's title from its settings model (core owns the words); the name as a fallback."""
    if info is not None and info.title:
        return info.title
    return name.replace("_", " ").capitalize()


class ModelForm(QWidget):
    """One editor per field of a pydantic model class."""

    sig_changed = Signal()
    """Any field changed."""

    def __init__(self, model: type[BaseModel], parent: QWidget | None = None,
                 exclude: frozenset[str] = frozenset()) -> None:
        super().__init__(parent)
        self.model = model
        self.editors: dict[str, QWidget] = {}
        self.readers: dict[str, typing.Callable[[], Any]] = {}
        self.options: dict[str, tuple[Any, ...]] = {}  # the choices a combo box offers, in order
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for name, info in model.model_fields.items():
            if name in exclude:
                continue
            editor = self._editor(name, info)
            if editor is not None:
                editor.setToolTip(info.description or f"{model.__name__}.{name}")
                layout.addRow(label_for(name, info), editor)
                self.editors[name] = editor

    def _editor(self, name: str, info: FieldInfo) -> QWidget | None:
        annotation, default = info.annotation, field_default(info)
        args = get_args(annotation)
        optional = isinstance(annotation, types.UnionType) and type(None) in args and default is None
        if optional and bool in args:
            tri = QComboBox()
            tri.addItems(["auto", "on", "off"])
            tri.currentTextChanged.connect(self.sig_changed)
            self.readers[name] = lambda: {"auto": None, "on": True, "off": False}[tri.currentText()]
            return tri
        if optional and Path in args:
            path = PathEdit()
            path.sig_changed.connect(self.sig_changed)
            self.readers[name] = path.path
            return path
        if optional and str in args:
            line = QLineEdit()
            line.textChanged.connect(self.sig_changed)
            self.readers[name] = lambda: line.text().strip() or None
            return line
        if isinstance(annotation, types.UnionType) and bool in args:
            annotation = bool  # e.g. dynamic_axes: bool | {tensor: [axes]} — the form offers the switch
        if annotation is bool:
            box = QCheckBox()
            box.setChecked(bool(default))
            box.toggled.connect(self.sig_changed)
            self.readers[name] = box.isChecked
            return box
        if (choices := _choices(annotation)) is not None:
            combo = QComboBox()
            combo.addItems([str(c) for c in choices])
            combo.setCurrentText(str(default))
            combo.currentTextChanged.connect(self.sig_changed)
            self.options[name] = tuple(choices)
            self.readers[name] = lambda: (self.options[name][combo.currentIndex()]
                                          if combo.currentIndex() >= 0 else None)
            return combo
        if get_origin(annotation) is list and (choices := _choices(args[0])) is not None:
            row = QWidget()
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(0, 0, 0, 0)
            boxes = []
            for choice in choices:
                box = QCheckBox(str(choice))
                box.setChecked(choice in (default or []))
                box.toggled.connect(self.sig_changed)
                row_layout.addWidget(box)
                boxes.append((choice, box))
            row_layout.addStretch()
            self.readers[name] = lambda: [c for c, b in boxes if b.isChecked()]
            return row
        if annotation is int:
            low, high = _bounds(info)
            spin = QSpinBox()
            spin.setRange(int(low if low is not None else 0), int(high if high is not None else 1_000_000))
            spin.setValue(int(default))
            spin.valueChanged.connect(self.sig_changed)
            self.readers[name] = spin.value
            return spin
        if annotation is float:
            low, high = _bounds(info)
            dspin = QDoubleSpinBox()
            dspin.setDecimals(2)
            dspin.setRange(low if low is not None else 0.0, high if high is not None else 1e6)
            dspin.setValue(float(default))
            dspin.valueChanged.connect(self.sig_changed)
            self.readers[name] = dspin.value
            return dspin
        return QLabel(f"{default!r} (set it in the spec JSON)")

    def values(self) -> dict[str, Any]:
        """Fields whose value differs from the model's default."""
        out = {}
        for name, read in self.readers.items():
            value = read()
            if value != field_default(self.model.model_fields[name]):
                out[name] = value
        return out

    def set_choices(self, name: str, choices: tuple[Any, ...]) -> None:
        """Offer only ``choices`` (a subset of the field's own) for a choice field; the current
        value is kept when it is still offered, else the first choice is taken."""
        combo = self.editors[name]
        assert isinstance(combo, QComboBox) and name in self.options
        if tuple(choices) == self.options[name]:
            return
        current = self.options[name][combo.currentIndex()] if combo.currentIndex() >= 0 else None
        combo.blockSignals(True)
        combo.clear()
        self.options[name] = tuple(choices)
        combo.addItems([str(c) for c in choices])
        if current in choices:
            combo.setCurrentIndex(list(choices).index(current))
        combo.blockSignals(False)
        self.sig_changed.emit()

    def set_value(self, name: str, value: Any) -> None:
        """Set one field's editor (tests and saved defaults use it)."""
        editor = self.editors[name]
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText({None: "auto", True: "on", False: "off"}.get(value, str(value))
                                  if isinstance(value, bool | None) else str(value))
        elif isinstance(editor, PathEdit):
            editor.line.setText("" if value is None else str(value))
        elif isinstance(editor, QLineEdit):
            editor.setText(value or "")
        elif isinstance(editor, QSpinBox | QDoubleSpinBox):
            editor.setValue(value)
        else:
            for box in editor.findChildren(QCheckBox):
                box.setChecked(box.text() in [str(v) for v in value])
