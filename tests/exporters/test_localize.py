"""Per-layer localisation names the module where a seeded bug sits (exporters/localize).

A small network is exported with torch.onnx, then one thing is broken in the written
graph: one layer's weights scaled, a batch norm folded with the wrong shift, one layer's
weights rounded to INT8, the first convolution's input channels swapped, or the whole
graph computed in bf16 (OpenVINO). The report must name that module (or, for bf16, the
first layer), through ONNX Runtime and through OpenVINO; a graph whose names no longer
carry the module paths matches nothing, and says so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from exporters.localize import localize, summary  # noqa: E402
from exporters.localize.graph_side import module_path  # noqa: E402

FP32 = (1e-4, 1e-3)  # the gate's fp32 atol, rtol


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.block = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                   nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, 10)

    def forward(self, x: Any) -> Any:
        return self.head(self.pool(self.block(self.stem(x))).flatten(1))


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, list[np.ndarray]]:
    """The network with trained-like batch norms (not the identity), its ONNX file, inputs."""
    torch.manual_seed(0)
    model = Net().eval()
    with torch.no_grad():
        for bn in (model.stem[1], model.block[1]):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.3)
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("net") / "net.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"])
    rng = np.random.default_rng(0)
    return model, path, [rng.normal(size=(1, 3, 32, 32)).astype(np.float32) for _ in range(3)]


def broken(path: Path, out: Path, node_name: str, change: Callable[[np.ndarray, Any], np.ndarray],
           input_index: int = 1) -> Path:
    """A copy of the graph with one initializer of one node changed."""
    model = onnx.load(str(path))
    node = next(n for n in model.graph.node if n.name == node_name)
    init = next(i for i in model.graph.initializer if i.name == node.input[input_index])
    array = onnx.numpy_helper.to_array(init).copy()
    init.CopyFrom(onnx.numpy_helper.from_array(change(array, node).astype(array.dtype), init.name))
    onnx.save(model, str(out))
    return out


def int8_rounded(weights: np.ndarray, node: Any) -> np.ndarray:
    scale = np.abs(weights).max() / 127
    return np.round(weights / scale).clip(-127, 127) * scale


SEEDED: dict[str, tuple[str, Callable[[np.ndarray, Any], np.ndarray], int, str, list[str]]] = {
    # name: (node, change, input, module named, folded into it)
    "scaled-layer": ("/block/block.3/Conv", lambda w, n: w * 1.02, 1, "block.3", []),
    "wrongly-folded-norm": ("/block/block.0/Conv", lambda b, n: b + 0.1, 2, "block.0", ["block.1"]),
    "one-layer-int8": ("/block/block.3/Conv", int8_rounded, 1, "block.3", []),
    "channel-swap": ("/stem/stem.0/Conv", lambda w, n: w[:, ::-1], 1, "stem.0", ["stem.1"]),
}


def run(model: Any, path: Path, inputs: list[np.ndarray], fmt: str, tmp_path: Path,
        precision: str = "f32") -> dict[str, Any]:
    return localize(model, path, fmt, [(x, x) for x in inputs], *FP32, tmp_path,
                    runtime_config={"INFERENCE_PRECISION_HINT": precision})


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_a_faithful_graph_has_no_divergent_layer(net: Any, fmt: str, tmp_path: Path) -> None:
    model, path, inputs = net
    report = run(model, path, inputs, fmt, tmp_path)
    assert report["first_divergent"] is None and summary(report) is None
    compared = {row["module"] for row in report["layers"]}
    assert {"stem.0", "block.0", "block.3", "head"} <= compared  # leaves, batch norms folded in
    assert {"stem", "block"} <= compared  # and the blocks around them
    assert {"module": "stem.1", "reason": "folded with stem.2"} not in report["unmatched_modules"]


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
@pytest.mark.parametrize("case", sorted(SEEDED))
def test_a_seeded_bug_is_named_by_its_module(net: Any, case: str, fmt: str, tmp_path: Path) -> None:
    model, path, inputs = net
    node, change, index, module, folded = SEEDED[case]
    report = run(model, broken(path, tmp_path / "broken.onnx", node, change, index), inputs, fmt, tmp_path)
    first = report["first_divergent"]
    assert first is not None, case
    assert (first["module"], first["folded"]) == (module, folded), (case, first)
    assert first["max_abs_diff"] > first["tolerance"]
    words = summary(report)
    assert words is not None and f"first divergent layer: {module} " in words


def test_bf16_compute_is_caught_at_the_first_layer(net: Any, tmp_path: Path) -> None:
    """OpenVINO computing in bf16, judged by fp32 tolerances: it starts at the first layer."""
    import openvino as ov

    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bf16: OpenVINO computes in fp32 whatever the hint")
    model, path, inputs = net
    report = run(model, path, inputs, "openvino", tmp_path, precision="bf16")
    assert report["first_divergent"]["module"] == "stem.0"


def test_names_without_module_paths_match_nothing_and_say_so(net: Any, tmp_path: Path) -> None:
    model, path, inputs = net
    graph = onnx.load(str(path))
    for index, node in enumerate(graph.graph.node):
        node.name = f"node_{index}"
    anonymous = tmp_path / "anonymous.onnx"
    onnx.save(graph, str(anonymous))
    report = run(model, anonymous, inputs, "onnx", tmp_path)
    assert report["matched"] == 0 and report["first_divergent"] is None
    assert report["status"] == "no_match" and "module path" in report["reason"]
    reasons = {u["module"]: u["reason"] for u in report["unmatched_modules"]}
    assert reasons["block.3"] == "no operator of its own in the exported graph"


def test_a_shared_module_is_not_matched(tmp_path: Path) -> None:
    """A module that runs twice has two tensors in the graph: which one is not guessed."""

    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)
            self.act = torch.nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.act(self.conv(self.act(x)))

    model = Twice().eval()
    path = tmp_path / "twice.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(path), opset_version=17, dynamo=False)
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32)
    report = run(model, path, [x], "onnx", tmp_path)
    reasons = {u["module"]: u["reason"] for u in report["unmatched_modules"]}
    assert reasons["act"] == "ran more than once (shared module)"
    assert [row["module"] for row in report["layers"]] == ["conv"]


@pytest.mark.parametrize(("name", "expected"), [
    ("/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"),  # torch.onnx: sequence items qualified
    ("/model.23/cv2.0/cv2.0.0/conv/Conv", "model.23.cv2.0.0.conv"),  # Ultralytics' head
    ("/fc/Gemm_output_0", "fc"),  # a tensor name
    ("/layer1/layer1.0/conv1/Conv/WithoutBiases", "layer1.0.conv1"),  # OpenVINO's decomposition
    ("__module.model.0.conv/aten::_convolution/Convolution", "model.0.conv"),  # OpenVINO's PyTorch frontend
    ("/layer9/Conv", None),  # no such module: nothing guessed
    ("Multiply_8378", None),
])
def test_names_resolve_to_module_paths(name: str, expected: str | None) -> None:
    modules = {"fc", "layer1", "layer1.0", "layer1.0.conv1", "model", "model.0", "model.0.conv", "model.23",
               "model.23.cv2", "model.23.cv2.0", "model.23.cv2.0.0", "model.23.cv2.0.0.conv"}
    assert module_path(name, modules) == expected


def test_a_shared_module_named_after_another_call_site_places_nothing() -> None:
    """OpenVINO's PyTorch frontend names every call of Ultralytics' one shared SiLU after its
    last call site (model.23…): those operations belong nowhere, and the tensor they consume
    is flagged (a module whose tensor it is cannot be sure it is its output)."""
    from exporters.localize.graph_side import last_in_scope

    modules = {"model", "model.0", "model.0.conv", "model.0.act", "model.23", "model.23.act"}
    ops = [("__module.model.0.conv/aten::_convolution/Convolution", "c0", ["x"], "Convolution"),
           ("__module.model.23.act/aten::silu_/Swish", "s0", ["c0"], "Swish"),
           ("Multiply_1", "m0", ["s0"], "Multiply")]  # unnamed, after it: nowhere either
    scopes = last_in_scope(ops, modules, shared={"model.0.act", "model.23.act"})
    assert scopes.tensors == {"model.0.conv": "c0", "model.0": "c0", "model": "c0"}
    assert scopes.feeds_unknown == {"c0", "s0"}
    plain = last_in_scope(ops, modules)  # without knowing it is shared, the name is believed
    assert plain.tensors["model.23.act"] == "m0" and not plain.feeds_unknown  # the Multiply follows it


# TFLite: the network goes through Slipway's own route (ONNX → onnx2tf → .tflite) once; the
# seeded bugs are then written into the .tflite's constant buffers, one at a time.
Change = Callable[[np.ndarray, Any], np.ndarray]
TFLITE_SEEDED: dict[str, tuple[tuple[int, ...], int, Change, str, list[str]]] = {
    # name: (filter shape of the convolution, input: 1 filter 2 bias, change, module named, folded/fused)
    "scaled-layer": ((16, 3, 3, 16), 1, lambda w, n: w * 1.02, "block.3", ["block.4"]),
    "wrongly-folded-norm": ((16, 3, 3, 8), 2, lambda b, n: b + 0.1, "block.0", ["block.1", "block.2"]),
    "one-layer-int8": ((16, 3, 3, 16), 1, int8_rounded, "block.3", ["block.4"]),
    "channel-swap": ((8, 3, 3, 3), 1, lambda w, n: w[..., ::-1], "stem.0", ["stem.1", "stem.2"]),
    "scaled-head": ((10, 16), 1, lambda w, n: w * 1.02, "head", []),
}


@pytest.fixture(scope="module")
def tflite_net(net: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx2tf")
    pytest.importorskip("ai_edge_litert")
    from exporters.steps.tflite import run_tf_convert

    _, path, _ = net
    return run_tf_convert(path, tmp_path_factory.mktemp("tflite"), ["TFLITE_BUILTINS"])


def tflite_broken(path: Path, out: Path, filter_shape: tuple[int, ...], operand: int,
                  change: Callable[[np.ndarray, Any], np.ndarray]) -> Path:
    """A copy of the .tflite with one operand (the filter or the bias) of the convolution
    whose filter has ``filter_shape`` changed in place, in the file's constant buffer."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    conv = next(op for op in interpreter._get_ops_details()
                if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")
                and tuple(interpreter.get_tensor(int(op["inputs"][1])).shape) == filter_shape)
    before = interpreter.get_tensor(int(conv["inputs"][operand])).copy()
    after = np.ascontiguousarray(change(before, None).astype(before.dtype))
    data = path.read_bytes()
    assert data.count(before.tobytes()) == 1 and not np.array_equal(before, after)
    out.write_bytes(data.replace(before.tobytes(), after.tobytes()))
    return out


def run_tflite(model: Any, path: Path, inputs: list[np.ndarray], tmp_path: Path) -> dict[str, Any]:
    return localize(model, path, "tflite", [(x, x.transpose(0, 2, 3, 1)) for x in inputs], *FP32, tmp_path)


@pytest.mark.slow
def test_a_faithful_tflite_graph_is_matched_through_onnx2tf(net: Any, tflite_net: Path,
                                                            tmp_path: Path) -> None:
    """The conversion keeps the module paths in the .tflite's tensor names; a convolution and
    the activation TFLite fused into it are compared at the activation's output."""
    model, _, inputs = net
    report = run_tflite(model, tflite_net, inputs, tmp_path)
    assert report["first_divergent"] is None and report["status"] == "compared"
    rows = {row["module"]: row["folded"] for row in report["layers"]}
    assert rows["stem.0"] == ["stem.1", "stem.2"] and rows["block.3"] == ["block.4"]
    assert {"stem", "block", "pool"} <= set(rows)
    assert max(row["max_abs_diff"] for row in report["layers"]) < 1e-4  # layouts turned back, not just sizes
    reasons = {u["module"]: u["reason"] for u in report["unmatched_modules"]}
    assert reasons["stem.0"] == "fused with stem.2"
    assert "head" in rows  # the graph's one output, named after the signature: the module returning it


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TFLITE_SEEDED))
def test_a_seeded_tflite_bug_is_named_by_its_module(net: Any, tflite_net: Path, case: str,
                                                    tmp_path: Path) -> None:
    model, _, inputs = net
    shape, operand, change, module, folded = TFLITE_SEEDED[case]
    broken_file = tflite_broken(tflite_net, tmp_path / "broken.tflite", shape, operand, change)
    report = run_tflite(model, broken_file, inputs, tmp_path)
    first = report["first_divergent"]
    assert first is not None, case
    assert (first["module"], first["folded"]) == (module, folded), (case, first)
    assert first["max_abs_diff"] > first["tolerance"]


@pytest.mark.slow
def test_a_tflite_graph_without_the_names_matches_nothing(net: Any, tflite_net: Path, tmp_path: Path) -> None:
    """A .tflite converted without the module scopes (another converter, an older Slipway)."""
    from exporters.localize.tflite_side import MARK

    model, _, inputs = net
    anonymous = tmp_path / "anonymous.tflite"
    data = tflite_net.read_bytes()
    assert MARK.encode() in data
    anonymous.write_bytes(data.replace(MARK.encode(), b"x" * len(MARK)))
    report = run_tflite(model, anonymous, inputs, tmp_path)
    assert [row["module"] for row in report["layers"]] == ["head"]  # only the graph's output, by position
    reasons = {u["module"]: u["reason"] for u in report["unmatched_modules"]}
    assert all("no operator named after it" in reasons[m] for m in ("stem.0", "block.3"))


def test_tflite_names_carry_the_onnx_scope_of_the_last_fused_part() -> None:
    from exporters.localize.tflite_side import layer_names, scope

    names = layer_names([("/block/block.0/Conv", ["/block/block.0/Conv_output_0"]),
                         ("/block/block.2/Relu", ["/block/block.2/Relu_output_0"]),
                         ("/head/Gemm", ["logits"]), ("Constant_7", ["c"])])
    assert names["wa/block/block.0/Conv_output_0"] == "slipway>0>block>block.0>Conv"
    assert names["logits"] == "slipway>2>head>Gemm" and "c" not in names
    fused = (f"model_2/{names['logits']}/Relu;model_2/{names['wa/block/block.0/Conv_output_0']}/Add;"
             "model_2/tf.nn.convolution_1/convolution;Const_51")
    assert scope(fused) == ("/head/Gemm", ["/block/block.0/Conv"], False)  # the later node in the graph
    assert scope("model_2/tf.compat.v1.pad/Pad") == (None, [], False)
    # a hard sigmoid's scale and shift folded into the convolution before it: not the node's output
    folded = ("model_2/tf.__operators__.add_1/AddV2;model_2/tf.math.multiply_2/Mul;Const_131;"
              f"model_2/{names['logits']}/Add")
    assert scope(folded) == ("/head/Gemm", [], True)


@pytest.mark.parametrize(("kind", "inputs", "rank", "expected"), [
    ("CONV_2D", [None], 4, (0, 2, 3, 1)),  # channels-last by definition
    ("ADD", [(0, 2, 3, 1), None], 4, (0, 2, 3, 1)),  # the known input's layout
    ("RESHAPE", [(0, 2, 3, 1)], 4, None),  # after a reshape: not known
    ("TRANSPOSE", [(0, 2, 3, 1)], 4, None),  # a layout fix or a real transpose: not known
    ("FULLY_CONNECTED", [None], 2, (0, 1)),  # two dimensions: the original's
])
def test_tflite_layouts_are_followed_not_guessed(kind: str, inputs: list[Any], rank: int,
                                                 expected: Any) -> None:
    from exporters.localize.tflite_side import _layout

    assert _layout(kind, inputs, rank, [4] * len(inputs)) == expected


# TorchScript: a traced module keeps its hierarchy (unless frozen); the bug is seeded in its weights.
TORCHSCRIPT_SEEDED: dict[str, tuple[str, str, Callable[[Any], Any], str]] = {
    # name: (module, parameter, change, module named)
    "scaled-layer": ("block.3", "weight", lambda w: w * 1.02, "block.3"),
    "wrongly-folded-norm": ("block.1", "bias", lambda b: b + 0.1, "block.1"),
    "channel-swap": ("stem.0", "weight", lambda w: w.flip(1), "stem.0"),
}


def traced(model: Any, path: Path, change: tuple[str, str, Callable[[Any], Any]] | None = None,
           frozen: bool = False) -> Path:
    script = torch.jit.trace(copy.deepcopy(model), torch.zeros(1, 3, 32, 32))  # it shares the weights
    if change is not None:
        module, name, how = change
        with torch.no_grad():
            parameter = getattr(script.get_submodule(module), name)
            parameter.copy_(how(parameter))
    torch.jit.save(torch.jit.freeze(script) if frozen else script, str(path))
    return path


def test_a_faithful_traced_module_is_matched_by_its_hierarchy(net: Any, tmp_path: Path) -> None:
    model, _, inputs = net
    report = run(model, traced(model, tmp_path / "net.pt"), inputs, "torchscript", tmp_path)
    assert report["first_divergent"] is None and report["status"] == "compared"
    compared = {row["module"] for row in report["layers"]}
    # the batch norms keep their own operation; stem.2 is in place: stem.1's value is copied before it
    assert {"stem.0", "stem.1", "stem.2", "block.0", "block.1", "block.3", "pool", "head"} <= compared
    assert max(row["max_abs_diff"] for row in report["layers"]) < 1e-5


@pytest.mark.parametrize("case", sorted(TORCHSCRIPT_SEEDED))
def test_a_seeded_torchscript_bug_is_named_by_its_module(net: Any, case: str, tmp_path: Path) -> None:
    model, _, inputs = net
    module, name, change, named = TORCHSCRIPT_SEEDED[case]
    path = traced(model, tmp_path / "broken.pt", (module, name, change))
    report = run(model, path, inputs, "torchscript", tmp_path)
    first = report["first_divergent"]
    assert first is not None and first["module"] == named, (case, first)


def test_a_frozen_torchscript_module_says_why_it_matches_nothing(net: Any, tmp_path: Path) -> None:
    model, _, inputs = net
    report = run(model, traced(model, tmp_path / "frozen.pt", frozen=True), inputs, "torchscript", tmp_path)
    assert report["status"] == "no_match" and "frozen" in report["reason"]


def test_a_module_called_by_index_gets_its_whole_path(tmp_path: Path) -> None:
    """Ultralytics' forward calls ``self.model[i]`` in a loop: the trace's hierarchy starts
    at ``0(Conv2d)``; the top-level graph's call targets give it back its ``model.`` prefix."""

    class Looped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())

        def forward(self, x: Any) -> Any:
            for layer in self.model:
                x = layer(x)
            return x

    model = Looped().eval()
    path = tmp_path / "looped.pt"
    torch.jit.save(torch.jit.trace(copy.deepcopy(model), torch.zeros(1, 3, 8, 8)), str(path))
    x = np.random.default_rng(2).normal(size=(1, 3, 8, 8)).astype(np.float32)
    report = run(model, path, [x], "torchscript", tmp_path)
    assert [row["module"] for row in report["layers"]] == ["model.0", "model.1"]
