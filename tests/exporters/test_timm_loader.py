"""The timm loader: arch.tag configurations, the fused-attention switch, refusals up front.

The loader runs for real on real timm models (random weights, bare state dicts); no
conversion runs here except in the slow refusal tests, which go through the CLI and must
stop in the load stage (exit 3) within seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import BadInput, Unsupported
from core.spec import ExportSpec
from tests.helpers import slipway


@pytest.fixture(scope="module")
def timm_lib() -> Any:
    return pytest.importorskip("timm")


def _state_dict(arch: str, folder: Path, **kwargs: Any) -> Path:
    import timm
    import torch

    path = folder / f"{arch.replace('.', '-')}.pth"
    torch.save(timm.create_model(arch, pretrained=False, **kwargs).state_dict(), path)
    return path


def _load(checkpoint: Path, model_name: str, folder: Path) -> Any:
    from exporters.loaders.timm import load

    spec = ExportSpec(checkpoint=checkpoint, export_format="onnx", framework="timm", model_name=model_name)
    work = folder / "work"
    work.mkdir(exist_ok=True)
    return load(spec, checkpoint, work)


@pytest.mark.parametrize("tag", ["a1_in1k", "tv_in1k"])
def test_arch_tag_selects_that_configuration(timm_lib: Any, tmp_path: Path, tag: str) -> None:
    """resnet18.a1_in1k (bicubic, crop_pct 0.95) and resnet18.tv_in1k (bilinear, 0.875):
    the same weights, each tag's own preprocessing, as timm resolves it."""
    from timm.models import get_pretrained_cfg

    checkpoint = _state_dict("resnet18", tmp_path)
    model = _load(checkpoint, f"resnet18.{tag}", tmp_path)
    cfg = get_pretrained_cfg(f"resnet18.{tag}")
    assert model.module.pretrained_cfg["tag"] == tag
    resize, crop = model.preprocessing["steps"]
    assert resize["interpolation"] == cfg.interpolation
    assert resize["edge"] == int(224 / cfg.crop_pct)  # timm: floor(size / crop_pct)
    assert crop["size"] == [224, 224]
    assert model.preprocessing["normalize"]["mean"] == pytest.approx(cfg.mean)


def test_unknown_tag_is_bad_input_naming_the_tags(timm_lib: Any, tmp_path: Path) -> None:
    checkpoint = _state_dict("resnet18", tmp_path)
    with pytest.raises(BadInput, match=r"resnet18\.nope.*a1_in1k"):
        _load(checkpoint, "resnet18.nope", tmp_path)


def test_fused_attention_is_switched_off_so_eva02_traces(timm_lib: Any, tmp_path: Path) -> None:
    """eva02 with torch's fused attention fails in the ONNX exporter ('is_causal must be bool,
    not Tensor'); the loader builds it in timm's export mode and the trace goes through, with
    the same outputs as the fused model."""
    import io

    import torch

    arch = "eva02_tiny_patch14_336"  # the in1k fine-tuned configuration: a classifier
    checkpoint = _state_dict(arch, tmp_path)
    model = _load(checkpoint, arch, tmp_path)
    attentions = [m for m in model.module.modules() if hasattr(m, "fused_attn")]
    assert attentions and not any(m.fused_attn for m in attentions)
    fused = timm_lib.create_model(arch, pretrained=False)
    fused.load_state_dict(torch.load(checkpoint, weights_only=True))
    fused.eval()
    assert any(m.fused_attn for m in fused.modules() if hasattr(m, "fused_attn"))
    x = torch.rand(1, 3, 336, 336)
    with torch.inference_mode():
        assert torch.allclose(model.module(x), fused(x), atol=1e-4)
    with pytest.raises(Exception, match="is_causal"):  # what the switch is for
        torch.onnx.export(fused, (x,), io.BytesIO(), opset_version=17, dynamo=False)
    torch.onnx.export(model.module, (x,), io.BytesIO(), opset_version=17, dynamo=False)


def test_family_torch_onnx_cannot_take_is_refused_for_onnx_routes_only(timm_lib: Any, tmp_path: Path) -> None:
    """halonet's halo attention (Tensor.unfold) defeats torch.onnx: ONNX, OpenVINO and TFLite
    are refused by name before the weights are read; TorchScript traces it and loads."""
    from exporters.loaders.timm import load

    checkpoint = _state_dict("halonet_h1", tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    for fmt in ("onnx", "openvino", "tflite"):
        spec = ExportSpec(checkpoint=checkpoint, export_format=fmt, framework="timm", model_name="halonet_h1")
        with pytest.raises(Unsupported, match=rf"family byoanet\) cannot be exported to {fmt} yet.*Unfold"):
            load(spec, checkpoint, work)
    spec = ExportSpec(checkpoint=checkpoint, export_format="torchscript", framework="timm",
                      model_name="halonet_h1")
    assert load(spec, checkpoint, work).model_name == "halonet_h1"


def test_family_the_tflite_converters_cannot_take_is_refused_for_tflite_only(tmp_path: Path) -> None:
    """skresnet's selective-kernel attention defeats onnx2tf: TFLite is refused by name (the
    family, the reason, the formats that work) before the weights are read; ONNX is not."""
    from exporters.loaders.timm import refuse_family

    refused = r"family sknet\) cannot be exported to tflite yet: .*selective-kernel.*ONNX, OpenVINO"
    with pytest.raises(Unsupported, match=refused):
        refuse_family("skresnet18", "tflite")
    refuse_family("skresnet18", "onnx")
    refuse_family("skresnet18", "torchscript")


def test_volo_is_written_in_the_opset_its_fold_needs(timm_lib: Any, tmp_path: Path) -> None:
    """VOLO folds patches back (F.fold → ONNX Col2Im, opset 18): left at the default opset the
    graph is written in 18, with fold's output size a constant, and ONNX Runtime gives the
    model's logits; an explicit older opset is refused at load, naming the one to use."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    from core.spec import OnnxConfig
    from exporters.loaders.timm import load
    from exporters.steps.pytorch import torch2onnx

    checkpoint = _state_dict("volo_d1_224", tmp_path)
    model = _load(checkpoint, "volo_d1_224", tmp_path)
    spec = ExportSpec(checkpoint=checkpoint, export_format="onnx", framework="timm", model_name="volo_d1_224")
    path = torch2onnx(model, spec, None, tmp_path)
    graph = onnx.load(str(path))
    assert graph.opset_import[0].version == 18 and any(n.op_type == "Col2Im" for n in graph.graph.node)
    x = torch.rand(1, 3, 224, 224)
    with torch.inference_mode():
        expected = model.module(x).numpy()
    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4
    old = spec.model_copy(update={"export_config": OnnxConfig(opset_version=16)})
    with pytest.raises(Unsupported, match=r"--opset 16: VOLO.*col2im.*--opset 18"):
        load(old, checkpoint, tmp_path / "work")


def test_headless_model_is_refused(timm_lib: Any, tmp_path: Path) -> None:
    checkpoint = _state_dict("resnet18", tmp_path, num_classes=0)
    with pytest.raises(Unsupported, match="no classifier head"):
        _load(checkpoint, "resnet18", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen3_vit_88m", "deepseek_vit_412m"])
def test_refused_family_exits_3_before_reading_weights(tmp_path: Path, arch: str) -> None:
    """Refused by name, before the weights (here not even the model's) are read; nothing converts."""
    import torch

    checkpoint = tmp_path / "weights.pth"
    torch.save({"patch_embed.proj.weight": torch.zeros(8, 3, 14, 14)}, checkpoint)  # not the model
    start = time.perf_counter()
    run = slipway("export", str(checkpoint), "--format", "onnx", "--model-name", arch,
                  "--out", str(tmp_path / "pkg"), "--json", home=tmp_path / "home")
    assert run.code == 3, run.stderr[-2000:]
    assert "no classifier head" in run.stderr and arch.rsplit("_", 1)[0] in run.stderr
    assert time.perf_counter() - start < 60
    assert not (tmp_path / "pkg" / "model.onnx").exists()


def test_the_zoo_has_a_family_for_every_timm_module(timm_lib: Any) -> None:
    """tests/zoo/timm_zoo.py's table was computed once; a timm upgrade that adds a module
    (or moves an architecture) shows here, not as a silently missing family."""
    from timm.models import is_model_in_modules

    from exporters.loaders.timm import REFUSED
    from tests.zoo.timm_zoo import REFUSED as ZOO_REFUSED
    from tests.zoo.timm_zoo import SMALLEST

    assert set(SMALLEST) == set(timm_lib.list_modules())
    for module, arch in SMALLEST.items():
        assert is_model_in_modules(arch, [module]), (module, arch)
    assert set(ZOO_REFUSED) <= set(REFUSED)  # the zoo expects exactly the loader's refusals
