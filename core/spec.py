"""The export spec: the one validated description of an export job.

The wizard, the CLI flags and ``--spec job.json`` all end up here, so a choice
that is invalid is rejected the same way everywhere, with a message naming the
field. Field names follow the product spec (``export_format``, ``export_config``,
``optimization_config``, ``validation_config``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from core import formats
from core.errors import BadInput
from core.formats import (
    CoreMLConfig,
    FormatConfig,
    OnnxConfig,
    OpenVinoConfig,
    StrictModel,
    TensorRTConfig,
    TFLiteConfig,
    TorchScriptConfig,
)

Framework = Literal["auto", "ultralytics", "timm", "huggingface"]
Task = Literal["auto", "detect", "classify", "segment", "pose", "obb", "semantic"]

FRAMEWORKS: tuple[str, ...] = ("ultralytics", "timm", "huggingface")
TASKS: tuple[str, ...] = ("detect", "classify", "segment", "pose", "obb", "semantic")
# views over the format registry (core/formats): one descriptor per format
FORMATS: tuple[str, ...] = formats.names()
FORMAT_CONFIGS: dict[str, type[FormatConfig]] = {f.name: f.config for f in formats.all_formats()}


def _known_format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"unknown format {value!r}; choose one of {', '.join(FORMATS)}")
    return value


ExportFormat = Annotated[str, AfterValidator(_known_format)]


# --- optimization, validation and the parity gate ----------------------------


class QuantizationConfig(StrictModel):
    """``quant_format`` auto and ``per_channel`` unset: Slipway measures the candidates
    on the calibration images and keeps the fastest one within the accuracy limit."""

    method: Annotated[Literal["dynamic", "static", "fp16"], Field(title="Method")]
    dtype: Annotated[Literal["qint8", "quint8", "float16"],
                     Field(title="Weight type", description="weight type of INT8 quantization",
                           json_schema_extra={"flag": "--quant-dtype"})] = "qint8"
    calibration_data: Annotated[Path | None, Field(
        title="Calibration images",
        description="images for static INT8: a folder, or a dataset YAML / folder as for --validate",
        json_schema_extra={"flag": "--calib"})] = None
    calibration_samples: Annotated[int, Field(ge=1, le=10_000, title="Calibration images to use",
                                              description="calibration images to use",
                                              json_schema_extra={"flag": "--calib-samples"})] = 100
    # percentile: on the sample detector it dropped 0.97 mAP50-95 points where minmax
    # dropped 2.68 (entropy 1.13), at the same speed
    calibration_method: Annotated[Literal["minmax", "entropy", "percentile"],
                                  Field(title="Calibration method",
                                        description="how activation ranges are calibrated",
                                        json_schema_extra={"flag": "--calib-method"})] = "percentile"
    quant_format: Annotated[Literal["auto", "qoperator", "qdq"],
                            Field(title="Quantized graph form",
                                  description="ONNX quantized graph form (auto: measured)")] = "auto"
    per_channel: Annotated[bool | None,
                           Field(title="Per-channel scales",
                                 description="per-channel weight scales (unset: measured)")] = None

    @model_validator(mode="after")
    def _static_needs_data(self) -> QuantizationConfig:
        if self.method == "static" and self.calibration_data is None:
            raise ValueError(
                "static INT8 quantization needs calibration_data (a folder of images); "
                "use method 'dynamic' to quantize without calibration"
            )
        if self.method == "fp16" and "dtype" not in self.model_fields_set:
            object.__setattr__(self, "dtype", "float16")  # the default follows the method
        return self


class PruningConfig(StrictModel):
    """``sparsity``: the share of channels (structured) or weights (unstructured) removed.
    ``iterative`` reaches it in ``steps`` equal increments, fine-tuning between them when
    ``fine_tune_data`` (an ImageFolder, classifiers only) is given."""

    method: Annotated[Literal["structured", "unstructured"], Field(title="Method")]
    sparsity: Annotated[float, Field(gt=0.0, lt=1.0, title="Share removed")] = 0.5
    pruning_schedule: Annotated[Literal["oneshot", "iterative"], Field(title="Schedule")] = "oneshot"
    steps: Annotated[int, Field(ge=2, le=20, title="Steps")] = 3
    fine_tune_data: Annotated[Path | None, Field(title="Fine-tuning images")] = None
    fine_tune_epochs: Annotated[int, Field(ge=1, le=50, title="Fine-tuning epochs")] = 1


class OptimizationConfig(StrictModel):
    """``goal`` speed: an optimized model for a runtime that runs on this machine (ONNX
    Runtime, OpenVINO on the CPU) is timed against the float model of the same runtime,
    and one that is not faster is not handed over (the speed gate, exit 4). ``size``: the
    speed is measured and recorded, and a slower model is kept for its smaller file."""

    quantization: QuantizationConfig | None = None
    pruning: PruningConfig | None = None
    goal: Annotated[Literal["speed", "size"], Field(
        description="what the optimization is for: speed (a model that is not faster than the "
                    "float one is not handed over) or size (the speed is only recorded)",
        json_schema_extra={"flag": "--goal"})] = "speed"


class FailThreshold(StrictModel):
    accuracy_drop_max: Annotated[float, Field(ge=0.0, le=1.0, title="Largest accuracy drop")] = 0.02


class ValidationConfig(StrictModel):
    enabled: bool = False
    data: Annotated[Path | None, Field(title="Labelled images")] = None
    metrics: list[Literal["accuracy", "top1", "top5", "mAP50", "mAP50-95"]] = Field(
        default_factory=list, title="Metrics")
    fail_threshold: FailThreshold = FailThreshold()

    @model_validator(mode="after")
    def _enabled_needs_data(self) -> ValidationConfig:
        if self.enabled and self.data is None:
            raise ValueError("validation is enabled but no dataset was given (data)")
        return self


class ParityConfig(StrictModel):
    """The parity gate every export passes. It cannot be switched off, only loosened.

    An output passes when ``max|exported - original| <= atol + rtol * max|original|``.
    Task agreement is the share of images whose top-1 class (classifiers), or of
    confident boxes (detectors), that the export reproduces. Preprocessing
    agreement compares the metadata's preprocessing with the framework's own.
    """

    # None: the default for the precision the export computes in (PARITY_TOLERANCE)
    atol: Annotated[float, Field(ge=0.0)] | None = None
    rtol: Annotated[float, Field(ge=0.0)] | None = None
    min_task_agreement: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    min_preprocessing_agreement: Annotated[float, Field(ge=0.0, le=1.0)] = 0.9
    box_iou: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    # semantic segmentation: the share of an image's pixels that must get the same class
    pixel_agreement: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    images: Path | None = None
    max_images: Annotated[int, Field(ge=1, le=1000)] = 16


# The parity gate's defaults by the precision an export computes in: fp16 keeps
# about 3 significant digits, bf16 about 2. INT8 changes raw outputs by design:
# they are reported but do not gate (atol/rtol None); the predictions must still
# agree, and the accuracy drop on the user's data is the real judge (validation).
PARITY_DEFAULTS: dict[str, dict[str, float | None]] = {
    "fp32": {"atol": 1e-4, "rtol": 1e-3, "min_task_agreement": 1.0, "box_iou": 0.9, "pixel_agreement": 0.99},
    "fp16": {"atol": 1e-3, "rtol": 1e-2, "min_task_agreement": 1.0, "box_iou": 0.9, "pixel_agreement": 0.99},
    "bf16": {"atol": 1e-2, "rtol": 3e-2, "min_task_agreement": 1.0, "box_iou": 0.9, "pixel_agreement": 0.98},
    "int8": {"atol": None, "rtol": None, "min_task_agreement": 0.9, "box_iou": 0.75,
             "pixel_agreement": 0.9},
}


# --- the spec ----------------------------------------------------------------


class ExportSpec(StrictModel):
    checkpoint: Path
    export_format: ExportFormat
    framework: Framework = "auto"
    model_name: str | None = None
    task: Task = "auto"
    input_size: Annotated[int, Field(ge=32, le=4096)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 1
    class_names: list[str] | None = None
    export_config: SerializeAsAny[FormatConfig] = FormatConfig()
    optimization_config: OptimizationConfig = OptimizationConfig()
    validation_config: ValidationConfig = ValidationConfig()
    parity: ParityConfig = ParityConfig()

    @model_validator(mode="before")
    @classmethod
    def _format_config(cls, data: Any) -> Any:
        """Validate export_config against the model of the chosen format."""
        if not isinstance(data, dict):
            return data
        fmt = data.get("export_format")
        config_cls = FORMAT_CONFIGS.get(fmt) if isinstance(fmt, str) else None
        if config_cls is None:
            return data  # the Literal on export_format reports the bad value
        raw = data.get("export_config") or {}
        if isinstance(raw, FormatConfig):
            raw = raw.model_dump()
        data = dict(data)
        try:
            data["export_config"] = config_cls.model_validate(raw)
        except ValidationError as err:
            problems = "; ".join(
                f"export_config.{_field_path(e['loc'])}: {e['msg']}" for e in err.errors()
            )
            raise ValueError(f"{problems} (options of format '{fmt}')") from None
        return data

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_exists(cls, value: Path) -> Path:
        if not value.exists():
            raise ValueError(f"no such file or directory: {value}")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> ExportSpec:
        """Combinations wrong for any model; what depends on the model is core.offers' work."""
        cfg = self.export_config
        if isinstance(cfg, TensorRTConfig) and self.batch_size > cfg.max_batch_size:
            raise ValueError("batch_size is larger than export_config.max_batch_size")
        if self.model_name is not None and self.framework not in ("auto", "timm"):
            raise ValueError("model_name names a timm architecture; it needs framework 'timm'")
        optimization = self.optimization_config
        # the default goal may be spelled out (a spec read back from metadata.json is complete)
        if optimization.goal != "speed" and optimization.pruning is None and self.precision == "fp32":
            raise ValueError("optimization_config.goal says what an optimization is for: it applies "
                             "with quantization, FP16 or pruning, and this export has none")
        return self

    @property
    def onnx(self) -> OnnxConfig:
        assert isinstance(self.export_config, OnnxConfig)
        return self.export_config

    @property
    def format(self) -> formats.Format:
        return formats.get(self.export_format)

    @property
    def precision(self) -> str:
        """What the exported model computes in: fp32, fp16, bf16 or int8."""
        return self.format.precision(self.export_config, self.optimization_config.quantization)

    def parity_for_precision(self, precision: str | None = None) -> ParityConfig:
        """The parity gate for this export, defaults filled in for its precision (or the
        one given); what the user set is kept as it is. atol/rtol stay None for INT8."""
        defaults = PARITY_DEFAULTS[precision or self.precision]
        chosen = self.parity.model_dump(include=set(defaults), exclude_none=True)
        return self.parity.model_copy(update={**defaults, **chosen})

    def to_json(self) -> str:
        """What the user set, and nothing else: read back, the spec is the same and the
        options it did not set are still defaults (the worker's checks tell them apart)."""
        return self.model_dump_json(indent=2, exclude_none=True, exclude_unset=True)


def _field_path(loc: tuple[int | str, ...]) -> str:
    # pydantic puts the union/class name in the location for nested models; drop it
    parts = [str(p) for p in loc if not (isinstance(p, str) and p[:1].isupper())]
    return ".".join(parts) or "spec"


def format_validation_error(err: ValidationError) -> str:
    """One line per problem, each naming the field the user has to change."""
    lines = []
    for item in err.errors():
        msg = item["msg"].removeprefix("Value error, ")
        lines.append(f"{_field_path(item['loc'])}: {msg}" if item["loc"] else msg)
    return "invalid export spec:\n  " + "\n  ".join(lines)


def parse_spec(data: dict[str, Any]) -> ExportSpec:
    """Validate a spec from any source; errors become :class:`BadInput`."""
    try:
        return ExportSpec.model_validate(data)
    except ValidationError as err:
        raise BadInput(format_validation_error(err)) from None


def load_spec(path: Path) -> ExportSpec:
    """Read and validate a spec file (``slipway export --spec job.json``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"spec file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInput(f"spec file {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadInput(f"spec file {path} must hold a JSON object")
    base = Path(path).resolve().parent
    for key in ("checkpoint",):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(base / data[key])
    return parse_spec(data)


__all__ = [
    "FORMATS", "FORMAT_CONFIGS", "FRAMEWORKS", "PARITY_DEFAULTS", "TASKS", "CoreMLConfig", "ExportSpec",
    "FailThreshold", "FormatConfig", "OnnxConfig", "OpenVinoConfig", "OptimizationConfig", "ParityConfig",
    "PruningConfig", "QuantizationConfig", "StrictModel", "TFLiteConfig", "TensorRTConfig",
    "TorchScriptConfig", "ValidationConfig", "format_validation_error", "load_spec", "parse_spec",
]
