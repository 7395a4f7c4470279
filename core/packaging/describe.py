"""Short human descriptions of a package's model, shared by the README templates."""

from __future__ import annotations

from typing import Any


def input_size(metadata: dict[str, Any]) -> list[Any]:
    """[h, w] of the model's input: ``preprocessing.input_size`` (schema 2) or the resize
    size of a schema-1 package; ["?", "?"] when it follows the image."""
    pre = metadata.get("preprocessing") or {}
    size = pre.get("input_size") if "steps" in pre else (pre.get("resize") or {}).get("size")
    return list(size) if size else ["?", "?"]


def _step_text(step: dict[str, Any]) -> str:
    if step.get("op") == "resize":
        if step.get("size"):
            return f"resize ({step.get('mode')}) to {step['size'][1]}x{step['size'][0]}"
        return f"resize ({step.get('mode')}) to {step.get('edge')}"
    if step.get("op") == "center_crop" and step.get("fraction"):
        return f"center crop {step['fraction'][1]:.4g}x{step['fraction'][0]:.4g} of the shorter side"
    if step.get("op") == "center_crop":
        return f"center crop {step['size'][1]}x{step['size'][0]}"
    size = step.get("size")
    return f"pad to {size[1]}x{size[0]}" if size else f"pad to a multiple of {step.get('multiple_of')}"


def preprocessing_text(metadata: dict[str, Any]) -> str:
    pre = metadata.get("preprocessing") or {}
    if "steps" in pre:
        parts = [", ".join(_step_text(step) for step in pre["steps"]) or "no resize"]
    else:  # schema 1: one resize object
        resize = pre.get("resize") or {}
        size = resize.get("size")
        parts = [f"{resize.get('method', 'resize')} to {size[1]}x{size[0]}" if size else "resize"]
    if (pre.get("format") or {}).get("color_space") == "BGR":
        parts.append("channels in BGR order")
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
