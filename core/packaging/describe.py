"""Short human descriptions of a package's model, shared by the README templates."""

from __future__ import annotations

from typing import Any


def preprocessing_text(metadata: dict[str, Any]) -> str:
    pre = metadata.get("preprocessing") or {}
    resize = pre.get("resize") or {}
    size = resize.get("size")
    parts = [f"{resize.get('method', 'resize')} to {size[1]}x{size[0]}" if size else "resize"]
    if pre.get("embedded"):
        parts.append("normalization inside the model")
    else:
        norm = pre.get("normalize") or {}
        parts.append(f"x * {norm.get('scale', 1)}, minus mean {norm.get('mean')}, divided by std "
                     f"{norm.get('std')}")
    return "; ".join(parts)


def verification_text(metadata: dict[str, Any]) -> str:
    parity = metadata.get("parity") or {}
    if parity.get("status") == "not_run":
        checks = ", ".join(k for k, ok in (parity.get("structure_checks") or {}).items() if ok)
        return (f"The parity gate could not run here ({parity.get('reason')}); the model file was read "
                f"back and checked against metadata.json ({checks}). Check predictions on a device "
                "before shipping.")
    if parity.get("passed"):
        return (f"The parity gate passed on {parity.get('images', '?')} images with "
                f"{parity.get('runtime', 'the export runtime')}: this model file predicts what the "
                "original checkpoint predicts. The sample code was not compiled here (no Swift/Android "
                "toolchain); its syntax was checked.")
    return "No parity report was found in metadata.json."


def bbox_note(metadata: dict[str, Any]) -> str:
    return ", and bbox (x1, y1, x2, y2 in the original image's pixels)" \
        if metadata["model_info"].get("task") == "detect" else ""
