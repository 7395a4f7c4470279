"""The export rewrites for transformers families (exporters/steps/tracing.py) compute
what the original computes, and make graphs ONNX Runtime can run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from exporters.steps.tracing import (  # noqa: E402
    constant_fold_sizes,
    exportable_adaptive_pooling,
    float_sampling_grids,
    whole_map_average_pools,
)


class _Pyramid(torch.nn.Module):
    """BEiT's and UperNet's pyramid pooling in miniature: bins of 1, 2, 3 and 6."""

    def __init__(self) -> None:
        super().__init__()
        self.pools = torch.nn.ModuleList(torch.nn.AdaptiveAvgPool2d(s) for s in (1, 2, 3, 6))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(pool(x) for pool in self.pools)


def _onnx_run(module: torch.nn.Module, x: torch.Tensor, path: Path, opset: int = 17) -> list[np.ndarray]:
    torch.onnx.export(module, (x,), str(path), opset_version=opset, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return list(session.run(None, {session.get_inputs()[0].name: x.numpy()}))


@pytest.mark.parametrize("size", [14, 40, 16])
def test_adaptive_pooling_exports_as_averaging_matrices(size: int, tmp_path: Path) -> None:
    module = _Pyramid().eval()
    x = torch.randn(1, 8, size, size)
    with torch.no_grad():
        expected = module(x)
    with pytest.raises(Exception, match="adaptive_avg_pool2d"):  # what the exporter says without it
        torch.onnx.export(module, (x,), str(tmp_path / "plain.onnx"), opset_version=17, dynamo=False)
    with exportable_adaptive_pooling(module):
        with torch.no_grad():
            rewritten = module(x)
        exported = _onnx_run(module, x, tmp_path / "pooled.onnx")
    for ref, mine, onnx_out in zip(expected, rewritten, exported, strict=True):
        assert torch.allclose(ref, mine, atol=1e-6)
        assert np.allclose(ref.numpy(), onnx_out, atol=1e-5)
    assert "forward" not in vars(module.pools[2])  # the class's own forward again


class _Folding(torch.nn.Module):
    """MobileViTV2's unfold → fold round trip, with the output size read from the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = torch.nn.functional.unfold(x, kernel_size=2, stride=2)
        return torch.nn.functional.fold(patches * 2, output_size=(x.shape[-2], x.shape[-1]), kernel_size=2,
                                        stride=2)


def test_fold_exports_at_a_fixed_size(tmp_path: Path) -> None:
    x = torch.randn(1, 4, 8, 12)
    with constant_fold_sizes():
        (out,) = _onnx_run(_Folding(), x, tmp_path / "fold.onnx", opset=18)
    assert np.allclose(out, (x * 2).numpy(), atol=1e-6)
    assert torch.nn.functional.fold.__module__ == "torch.nn.functional"


def test_float64_sampling_grids_are_cast_for_onnx_runtime(tmp_path: Path) -> None:
    """Deformable DETR's exported grid comes out float64, which ONNX Runtime cannot sample with."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    grid = helper.make_tensor_value_info("grid", TensorProto.FLOAT, [1, 3, 3, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])
    nodes = [helper.make_node("Cast", ["grid"], ["grid64"], to=TensorProto.DOUBLE),
             helper.make_node("GridSample", ["x", "grid64"], ["y"], align_corners=0, name="sample")]
    graph = helper.make_graph(nodes, "g", [x, grid], [y])
    path = tmp_path / "grid.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(Exception, match="GridSample"):
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert float_sampling_grids(path) == 1
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(1, 2, 4, 4)).astype(np.float32),
              "grid": rng.uniform(-1, 1, (1, 3, 3, 2)).astype(np.float32)}
    (out,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, inputs)
    expected = torch.nn.functional.grid_sample(torch.from_numpy(inputs["x"]),
                                               torch.from_numpy(inputs["grid"]), align_corners=False)
    assert np.allclose(out, expected.numpy(), atol=1e-5)


def test_a_pool_wider_than_its_map_exports_as_a_mean_openvino_reads(tmp_path: Path) -> None:
    """EfficientNet's pooler: AvgPool2d(1280, ceil_mode=True) over 7 x 7."""
    ov = pytest.importorskip("openvino")
    pool = torch.nn.AvgPool2d(1280, ceil_mode=True)
    x = torch.randn(1, 16, 7, 7)
    expected = pool(x)
    with whole_map_average_pools(pool):
        assert torch.allclose(pool(x), expected, atol=1e-6)
        (exported,) = _onnx_run(pool, x, tmp_path / "pool.onnx")
    assert np.allclose(exported, expected.numpy(), atol=1e-6)
    compiled = ov.Core().compile_model(ov.convert_model(str(tmp_path / "pool.onnx")), "CPU")
    assert np.allclose(compiled(x.numpy())[0], expected.numpy(), atol=1e-5)


def test_pool_subclasses_keep_their_own_forward() -> None:
    """timm's AvgPool2dSame (NASNet) pads in its own forward: the rewrites leave subclasses of
    AvgPool2d and AdaptiveAvgPool2d alone (calling AvgPool2d.forward dropped the padding)."""
    from timm.layers import create_pool2d

    from exporters.steps.tracing import traceable

    module = torch.nn.Sequential(create_pool2d("avg", 3, stride=2, padding="same"),
                                 torch.nn.AdaptiveAvgPool2d((5, 5)))
    assert type(module[0]) is not torch.nn.AvgPool2d  # a subclass, as in NASNet
    x = torch.randn(1, 4, 13, 11)
    with torch.no_grad():
        expected = module(x)
        with traceable(module, fixed_size=True):
            traced = module(x)
    assert torch.allclose(traced, expected)
