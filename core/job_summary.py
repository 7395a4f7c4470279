"""An export job as people and programs read it: its precision label and a JSON-able summary
(the CLI's --json, the app's history and detail pane)."""

from __future__ import annotations

import json
from typing import Any

from core import formats
from core.db import ExportJob
from core.errors import BadInput
from core.spec import QuantizationConfig


def precision_label(job: ExportJob) -> str:
    """What the export computes in, for tables: FP32, FP16, BF16, or INT8 with its method
    (static, dynamic); read from the recorded settings through the format's descriptor."""
    try:
        described = formats.get(job.export_format)
    except BadInput:
        return ""
    config = described.config.model_construct(**(job.export_config or {}))
    settings = (job.optimization_config or {}).get("quantization")
    quantization = QuantizationConfig.model_construct(**settings) if settings else None
    precision = described.precision(config, quantization)
    if precision == "int8" and quantization is not None:
        return f"INT8 {quantization.method}"
    return precision.upper()


def job_summary(job: ExportJob) -> dict[str, Any]:
    """A job as plain JSON-able data (CLI --json, the GUI's detail pane)."""
    return json.loads(json.dumps({
        "id": job.id, "checkpoint_id": job.checkpoint_id, "version": job.version,
        "version_tag": job.version_tag, "is_default": job.is_default,
        "export_format": job.export_format, "precision": precision_label(job),
        "framework": job.framework, "task": job.task_type,
        "status": job.status, "progress_percent": job.progress_percent, "stage": job.stage,
        "package_dir": job.package_dir, "model_path": job.exported_model_path,
        "model_size_bytes": job.model_size_bytes, "optimization_stats": job.optimization_stats,
        "parity": job.parity, "validation_metrics": job.validation_metrics,
        "timings": job.timings, "created_at": job.created_at, "started_at": job.started_at,
        "completed_at": job.completed_at, "duration_s": job.duration_s,
        "error_code": job.error_code, "error_message": job.error_message,
        "checkpoint_path": job.checkpoint_path, "cluster_address": job.cluster_address,
        "executed_on": job.executed_on,
    }, default=str))
