"""Choices known to hurt, said before an export runs (CLI now, the wizard later).

Figures measured on this project's machines (Xeon with AVX-512 VNNI and AMX, 2
threads): ONNX Runtime dynamic INT8 made a ResNet18 about 6× slower than FP32 and
this project's sample detector 4.6× slower; static INT8 in QOperator format ran
2.6× faster on the ResNet18.
"""

from __future__ import annotations

from core.spec import ExportSpec


def optimization_warnings(spec: ExportSpec) -> list[str]:
    quantization = spec.optimization_config.quantization
    warnings = []
    if quantization is not None and quantization.method == "dynamic" and spec.export_format == "onnx":
        warnings.append(
            "dynamic INT8 quantizes weights only and computes convolutions through slow "
            "integer paths on CPUs: it made conv nets 4-6× slower than FP32 on this project's "
            "machines. It shrinks the file; for speed use static INT8 with calibration images"
        )
    if quantization is not None and quantization.method == "static" and not spec.validation_config.enabled:
        warnings.append(
            "static INT8 without validation data: only the parity gate's agreement on sample "
            "images guards accuracy; give validation_config.data to measure the drop"
        )
    return warnings
