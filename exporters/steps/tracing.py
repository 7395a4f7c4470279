"""What tracing a PyTorch model (transformers, timm) for ONNX needs beyond torch.onnx.export.

Some families compute, while traced, with operators ONNX (or ONNX Runtime) lacks, where
at a fixed input size the same computation is a constant or a plain matrix product:
position embeddings resized with antialiased bicubic (Dinov2 with registers), adaptive
average pooling to sizes that do not divide the input (BEiT's and UperNet's pyramid
pooling, timm's CSATv2), ``fold`` with a traced output size (MobileViTV2, timm's VOLO),
an average pool wider than its input (EfficientNet's pooler, which OpenVINO refuses).
:func:`traceable` rewrites them for the duration of an export; the module is unchanged
afterwards, so the parity gate's reference is the model as the framework runs it.
:func:`float_sampling_grids` repairs the written graph where the exporter typed Deformable
DETR's grid float64.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# embeddings that, while traced, resize their position embeddings with an operator ONNX lacks
# (antialiased bicubic); at a fixed input size the result is a constant
CONSTANT_POSITION_EMBEDDINGS = ("Dinov2WithRegistersEmbeddings",)


@contextmanager
def _instance_methods(objects: list[Any], name: str, make: Any) -> Iterator[None]:
    """Each object's method ``name`` replaced by ``make(object)`` on the instance, for the
    duration; afterwards the class's own method is seen again."""
    for obj in objects:
        setattr(obj, name, make(obj))
    try:
        yield
    finally:
        for obj in objects:
            delattr(obj, name)


@contextmanager
def constant_position_embeddings(module: Any) -> Iterator[None]:
    """While exporting a fixed-size graph, the position embeddings of CONSTANT_POSITION_EMBEDDINGS
    are computed eagerly (untraced, as the model computes them outside a trace) and enter the
    graph as a constant."""
    import torch

    patched = [m for m in module.modules() if type(m).__name__ in CONSTANT_POSITION_EMBEDDINGS]

    def untraced(embeddings_module: Any) -> Any:
        original = embeddings_module.interpolate_pos_encoding

        def interpolate(embeddings: Any, height: int, width: int) -> Any:
            state = torch._C._get_tracing_state()
            torch._C._set_tracing_state(None)
            try:
                return original(embeddings.detach(), int(height), int(width)).detach()
            finally:
                torch._C._set_tracing_state(state)
        return interpolate

    with _instance_methods(patched, "interpolate_pos_encoding", untraced):
        yield


def _averaging_matrix(size_in: int, size_out: int) -> Any:
    """(size_out, size_in): row j averages the input cells adaptive pooling puts in bin j,
    from floor(j * in / out) to ceil((j + 1) * in / out)."""
    import torch

    matrix = torch.zeros(size_out, size_in)
    for j in range(size_out):
        start, end = (j * size_in) // size_out, -((-(j + 1) * size_in) // size_out)
        matrix[j, start:end] = 1.0 / (end - start)
    return matrix


@contextmanager
def exportable_adaptive_pooling(module: Any) -> Iterator[None]:
    """Adaptive average pooling to a size that does not divide the input (BEiT's and UperNet's
    pyramid pooling: bins of 3 and 6 over a 14 x 14 map) has no ONNX operator; at a fixed
    input size it is two averaging matrices, which is what the export then records."""
    import torch

    pools = [m for m in module.modules() if type(m) is torch.nn.AdaptiveAvgPool2d]  # not subclasses

    def pooled(pool: Any) -> Any:
        def forward(x: Any) -> Any:
            h, w = int(x.shape[-2]), int(x.shape[-1])
            size = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size,) * 2
            out_h, out_w = size[0] or h, size[1] or w
            if h % out_h == 0 and w % out_w == 0:  # ONNX has it: an average pool
                return torch.nn.AdaptiveAvgPool2d.forward(pool, x)
            rows, cols = _averaging_matrix(h, out_h).to(x.dtype), _averaging_matrix(w, out_w).to(x.dtype)
            return torch.matmul(torch.matmul(rows, x), cols.T)
        return forward

    with _instance_methods(pools, "forward", pooled):
        yield


@contextmanager
def constant_fold_sizes() -> Iterator[None]:
    """torch.nn.functional.fold (MobileViTV2 folds its patches back) exports as ONNX's Col2Im
    only when its output size is a constant; at a fixed input size it is one."""
    import torch

    original = torch.nn.functional.fold

    def fold(input: Any, output_size: Any, *args: Any, **kwargs: Any) -> Any:
        sizes = (output_size,) * 2 if isinstance(output_size, int) else output_size
        return original(input, tuple(int(v) for v in sizes), *args, **kwargs)

    torch.nn.functional.fold = fold
    try:
        yield
    finally:
        torch.nn.functional.fold = original


def float_sampling_grids(path: Path) -> int:
    """Deformable attention (Deformable DETR) computes its sampling grid from int64 feature-map
    sizes, and the exporter types that grid float64: ONNX Runtime has no GridSample for it.
    A Cast to float32 goes before each such grid (what PyTorch computes in). Returns how many."""
    import onnx
    from onnx import TensorProto, helper, shape_inference

    model = onnx.load(str(path))
    grids = [n for n in model.graph.node if n.op_type == "GridSample"]
    if not grids:
        return 0
    inferred = shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    cast = 0
    for node in grids:
        grid = node.input[1]
        if types.get(grid) != TensorProto.DOUBLE:
            continue
        name = f"{grid}_as_float32"
        index = list(model.graph.node).index(node)
        model.graph.node.insert(index, helper.make_node("Cast", [grid], [name], to=TensorProto.FLOAT,
                                                        name=f"{node.name}_grid_float32"))
        node.input[1] = name
        cast += 1
    if cast:
        onnx.save(model, str(path))
    return cast


@contextmanager
def whole_map_average_pools(module: Any) -> Iterator[None]:
    """An average pool whose window covers the whole feature map is its mean. EfficientNet's
    pooler is AvgPool2d(hidden_dim=1280, ceil_mode=True) over a 7 x 7 map: ONNX Runtime
    clips the window, OpenVINO refuses a kernel larger than its input."""
    import torch

    # exactly AvgPool2d: a subclass (timm's AvgPool2dSame pads in its own forward) keeps its forward
    pools = [m for m in module.modules() if type(m) is torch.nn.AvgPool2d]

    def averaged(pool: Any) -> Any:
        def forward(x: Any) -> Any:
            kh, kw = (pool.kernel_size,) * 2 if isinstance(pool.kernel_size, int) else pool.kernel_size
            padding = (pool.padding,) * 2 if isinstance(pool.padding, int) else pool.padding
            if kh >= x.shape[-2] and kw >= x.shape[-1] and not any(padding):
                return x.mean(dim=(-2, -1), keepdim=True)
            return torch.nn.AvgPool2d.forward(pool, x)
        return forward

    with _instance_methods(pools, "forward", averaged):
        yield


@contextmanager
def traceable(module: Any, fixed_size: bool) -> Iterator[None]:
    """Every rewrite above; those that hold at one input size only for a graph of one input
    size (the families that need them have fixed-size processors)."""
    with ExitStack() as stack:
        stack.enter_context(whole_map_average_pools(module))
        if fixed_size:
            stack.enter_context(constant_position_embeddings(module))
            stack.enter_context(exportable_adaptive_pooling(module))
            stack.enter_context(constant_fold_sizes())
        yield
