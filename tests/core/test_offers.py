"""Every option is honoured or refused before a job exists: the rules in core/offers.py and the
formats' own, checked without running anything (the contract test proves the honoured ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import formats, offers
from core.errors import BadInput, Unsupported
from core.samples import sample
from core.spec import parse_spec
from tests.helpers import slipway

DET = str(sample("shapes-yolo11n").checkpoint)
TIMM = str(sample("digits-timm").checkpoint)
HF = str(sample("digits-hf").checkpoint)


def spec(checkpoint: str, fmt: str, **sections: object) -> object:
    return parse_spec({"checkpoint": checkpoint, "export_format": fmt, **sections})


def refused(checkpoint: str, fmt: str, framework: str, task: str | None, **sections: object) -> str:
    with pytest.raises((BadInput, Unsupported)) as err:
        offers.check(spec(checkpoint, fmt, **sections), framework, task)  # type: ignore[arg-type]
    return str(err.value.message)


def test_tflite_quantization_lives_in_one_place() -> None:
    """Offered by the spec, the CLI and the wizard, then always refused by the worker: gone,
    with a message pointing to optimization_config.quantization."""
    with pytest.raises(BadInput, match=r"optimization_config\.quantization"):
        spec(DET, "tflite", export_config={"quantization": "dynamic"})
    assert "quantization" not in formats.get("tflite").config.model_fields


def test_a_quantizer_the_format_lacks_is_refused_naming_the_formats_that_have_it() -> None:
    """The wizard preselected 'dynamic' for OpenVINO and the export failed after it started."""
    message = refused(DET, "openvino", "ultralytics", "detect",
                      optimization_config={"quantization": {"method": "dynamic"}})
    assert "openvino has no 'dynamic' quantizer" in message and "onnx" in message
    dynamic = {"quantization": {"method": "dynamic"}}
    offers.check(spec(DET, "onnx", optimization_config=dynamic), "ultralytics", "detect")  # type: ignore[arg-type]


def test_dtype_is_honoured_or_refused_never_ignored() -> None:
    quint8 = {"quantization": {"method": "dynamic", "dtype": "quint8"}}
    offers.check(spec(TIMM, "onnx", optimization_config=quint8), "timm", "classify")  # type: ignore[arg-type]
    assert "qint8" in refused(TIMM, "tflite", "timm", "classify", optimization_config=quint8)
    assert "fp16" in refused(TIMM, "onnx", "timm", "classify",
                             optimization_config={"quantization": {"method": "fp16", "dtype": "qint8"}})


def test_options_that_only_some_models_have() -> None:
    assert "no NMS" in refused(TIMM, "onnx", "timm", "classify", export_config={"embed_nms": True})
    assert "no NMS" in refused(DET, "onnx", "ultralytics", "segment", export_config={"embed_nms": True})
    offers.check(spec(DET, "onnx", export_config={"embed_nms": True}), "ultralytics", "detect")  # type: ignore[arg-type]
    assert "dynamic_axes true" in refused(DET, "onnx", "ultralytics", "detect",
                                          export_config={"dynamic_axes": {"images": [0]}})
    assert "trace" in refused(DET, "torchscript", "ultralytics", "detect",
                              export_config={"method": "script"})
    assert "iOS15" in refused(DET, "coreml", "ultralytics", "detect",
                              export_config={"minimum_deployment_target": "iOS17"})


def test_settings_a_quantizer_would_ignore_are_refused() -> None:
    message = refused(DET, "openvino", "ultralytics", "detect", optimization_config={"quantization": {
        "method": "static", "calibration_data": DET, "calibration_method": "minmax"}})
    assert "calibration_method" in message
    message = refused(TIMM, "onnx", "timm", "classify", optimization_config={"quantization": {
        "method": "dynamic", "calibration_samples": 10}})
    assert "static" in message


def test_every_problem_is_named_at_once_and_the_exit_code_follows_the_worst() -> None:
    with pytest.raises(Unsupported) as err:
        offers.check(spec(DET, "torchscript", export_config={"method": "script"},  # type: ignore[arg-type]
                          validation_config={"data": DET}), "ultralytics", "detect")
    assert "export_config.method" in err.value.message and "validation_config.data" in err.value.message
    with pytest.raises(BadInput):
        offers.check(spec(DET, "onnx", validation_config={"data": DET}), "ultralytics", "detect")  # type: ignore[arg-type]


def test_the_wizard_offers_only_the_quantizers_a_format_has() -> None:
    base = spec(DET, "openvino")
    assert offers.allowed(["dynamic", "static", "fp16"], "optimization_config.quantization.method",
                          base, "ultralytics", "detect") == ["static"]  # type: ignore[arg-type]


def test_the_cli_refuses_before_a_job_exists(tmp_path: Path) -> None:
    """Exit 3 with the reason, no worker started (no job files) and no job row in the history."""
    run = slipway("export", DET, "--format", "torchscript", "--method", "script", home=tmp_path)
    assert run.code == 3, run.stderr
    assert "Ultralytics' exporter traces" in run.stderr
    assert not (tmp_path / "jobs").exists()
    listing = slipway("jobs", "list", "--json", home=tmp_path)
    assert listing.code == 0 and listing.result == []


def test_an_unknown_timm_architecture_is_caught_when_typed(tmp_path: Path) -> None:
    """Read from timm's source (no torch import), with the closest names suggested."""
    from core.jobs import JobService

    message = refused(TIMM, "onnx", "timm", "classify", model_name="mobilenetv3_smal_050")
    assert "is not a timm architecture; did you mean mobilenetv3_small_050" in message
    offers.check(spec(TIMM, "onnx", model_name="mobilenetv3_small_050.lamb_in1k"), "timm", "classify")  # type: ignore[arg-type]
    service = JobService()
    checkpoint = service.import_checkpoint(Path(TIMM), model_name="mobilenetv3_small_050")
    with pytest.raises(BadInput, match="did you mean resnet18"):
        service.update_checkpoint(checkpoint.id, model_name="resnt18")


def test_an_input_size_a_fixed_hugging_face_processor_would_not_make_is_refused_up_front() -> None:
    """It used to be refused by the worker, after the job had started."""
    message = refused(HF, "onnx", "huggingface", "classify", input_size=192)
    assert "input_size 192" in message and "64x64" in message and "without --imgsz" in message
    offers.check(spec(HF, "onnx", input_size=64), "huggingface", "classify")  # type: ignore[arg-type]


@pytest.mark.parametrize(("processor", "size"), [
    ({"image_processor_type": "DetrImageProcessor", "size": {"shortest_edge": 800, "longest_edge": 1333}},
     None),
    ({"image_processor_type": "ConvNextImageProcessor", "size": {"shortest_edge": 224}, "crop_pct": 0.875},
     (224, 224)),
    ({"size": {"shortest_edge": 256}, "do_center_crop": True, "crop_size": {"height": 224, "width": 224}},
     (224, 224)),
    ({"size": {"height": 384, "width": 320}}, (384, 320)),
    ({"size": {"height": 384, "width": 320}, "do_resize": False}, None),
])
def test_the_processor_size_is_read_from_its_json(tmp_path: Path, processor: dict[str, object],
                                                   size: tuple[int, int] | None) -> None:
    import json

    from core.checkpoint import hf_processor_size

    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor), encoding="utf-8")
    assert hf_processor_size(tmp_path) == size


@pytest.mark.parametrize("fmt", ["openvino", "tflite"])
def test_the_spec_the_worker_reads_back_keeps_defaults_apart_from_choices(fmt: str) -> None:
    """The worker checks the spec again after loading, from the spec.json the job wrote. Written
    with every default, calibration_method and quant_format looked chosen, and OpenVINO and
    TFLite static INT8 were refused after the job had started."""
    import json

    calib = str(sample("digits-timm").images)
    chosen = spec(TIMM, fmt, model_name="mobilenetv3_small_050",
                  optimization_config={"quantization": {"method": "static", "calibration_data": calib}})
    offers.check(chosen, "timm", "classify")  # type: ignore[arg-type]
    read_back = parse_spec(json.loads(chosen.to_json()))  # type: ignore[attr-defined]
    assert read_back == chosen
    offers.check(read_back, "timm", "classify")
