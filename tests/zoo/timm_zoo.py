"""timm families: one per model module of timm's registry (``timm.list_modules()``).

Each family is the module's smallest architecture by parameter count, with its default
pretrained configuration (``timm.create_model(arch)``: input size, crop, mean/std), random
weights brought to life (tests/zoo/weights.py: random norms and layer scales, batch norms
calibrated on real photos through timm's own eval transform), saved as a bare state dict
and exported with ``--model-name arch``. A few extra families name an ``arch.tag`` whose
configuration differs (crop_mode squash). The framework's own pipeline is timm's eval
transform, the model and a softmax: the top-5 classes.

``SMALLEST`` was computed with :func:`smallest_per_module` (building every registered
architecture on the meta device takes about two minutes); a test checks it still covers
every module of the installed timm.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tests.zoo import Family
from tests.zoo.weights import calibrate_batch_norms, photos, randomize_norms, reproducible

# module → its smallest architecture with a classifier head (timm 1.0.31; for the three modules
# that only hold headless vision encoders, the smallest of those), parameters in millions
SMALLEST: dict[str, str] = {
    "beit": "beit_base_patch16_224",  # 86.5M
    "byoanet": "halonet_h1",  # 8.1M
    "byobnet": "test_byobnet",  # 0.5M
    "cait": "cait_xxs24_224",  # 12.0M
    "coat": "coat_tiny",  # 5.5M
    "convit": "convit_tiny",  # 5.7M
    "convmixer": "convmixer_768_32",  # 21.1M
    "convnext": "test_convnext",  # 0.3M
    "cpubone": "cpubone_nano",  # 6.5M
    "crossvit": "crossvit_tiny_240",  # 7.0M
    "csatv2": "csatv2",  # 11.1M
    "cspnet": "cs3darknet_focus_s",  # 3.3M
    "cspnext": "cspnext_tiny",  # 2.7M
    "davit": "davit_tiny",  # 28.4M
    "deepseek_vit": "deepseek_vit_412m",  # 411.8M
    "deit": "deit_tiny_patch16_224",  # 5.7M
    "densenet": "densenet121",  # 8.0M
    "dla": "dla46x_c",  # 1.1M
    "dpn": "dpn48b",  # 9.1M
    "edgenext": "edgenext_xx_small",  # 1.3M
    "efficientformer": "efficientformer_l1",  # 12.3M
    "efficientformer_v2": "efficientformerv2_s0",  # 3.6M
    "efficientnet": "test_efficientnet",  # 0.4M
    "efficientvim": "efficientvim_m1",  # 6.7M
    "efficientvit_mit": "efficientvit_b0",  # 3.4M
    "efficientvit_msra": "efficientvit_m0",  # 2.3M
    "eva": "eva02_tiny_patch14_336",  # 5.8M
    "fasternet": "fasternet_t0",  # 3.9M
    "fastvit": "fastvit_t8",  # 4.0M
    "focalnet": "focalnet_tiny_srf",  # 28.4M
    "gcvit": "gcvit_xxtiny",  # 12.0M
    "gemma4_vit": "gemma4_vit_167m",  # 167.4M
    "ghostnet": "ghostnet_050",  # 2.6M
    "hardcorenas": "hardcorenas_b",  # 5.2M
    "hgnet": "hgnetv2_b0",  # 6.0M
    "hiera": "hiera_tiny_224",  # 27.9M
    "hieradet_sam2": "hieradet_small",  # 34.7M
    "hrnet": "hrnet_w18_small",  # 13.2M
    "iformer": "iformer_t",  # 2.9M
    "inception_next": "inception_next_atto",  # 4.2M
    "inception_resnet_v2": "inception_resnet_v2",  # 55.8M
    "inception_v3": "inception_v3",  # 23.8M
    "inception_v4": "inception_v4",  # 42.7M
    "lcnetv2": "lcnetv2_small",  # 4.1M
    "levit": "levit_128s",  # 7.8M
    "lowformer": "lowformer_b0",  # 14.1M
    "mambaout": "test_mambaout",  # 0.4M
    "maxxvit": "test_coatnet",  # 0.6M
    "metaformer": "poolformerv2_s12",  # 11.9M
    "mlp_mixer": "gmlp_ti16_224",  # 5.9M
    "mobilenetv3": "mobilenetv3_small_050",  # 1.6M
    "mobilenetv5": "mobilenetv5_base",  # 82.6M
    "mobilevit": "mobilevit_xxs",  # 1.3M
    "mvitv2": "mvitv2_tiny",  # 24.2M
    "naflexvit": "naflexvit_base_patch16_parfac_gap",  # 86.5M
    "nasnet": "nasnetalarge",  # 88.8M
    "nest": "nest_tiny",  # 17.1M
    "nextvit": "nextvit_small",  # 31.8M
    "nfnet": "test_nfnet",  # 0.4M
    "pit": "pit_ti_224",  # 4.8M
    "pnasnet": "pnasnet5large",  # 86.1M
    "pvt_v2": "pvt_v2_b0",  # 3.7M
    "qwen3_vit": "qwen3_vit_88m",  # 87.4M
    "rdnet": "rdnet_tiny",  # 23.9M
    "regnet": "regnetx_002",  # 2.7M
    "repghost": "repghostnet_050",  # 2.3M
    "repvit": "repvit_m1",  # 5.5M
    "res2net": "res2next50",  # 24.7M
    "resnest": "resnest14d",  # 10.6M
    "resnet": "test_resnet",  # 0.5M
    "resnetv2": "resnetv2_18",  # 11.7M
    "rexnet": "rexnet_100",  # 4.8M
    "selecsls": "selecsls42",  # 30.4M
    "senet": "legacy_seresnet18",  # 11.8M
    "sequencer": "sequencer2d_s",  # 27.7M
    "shvit": "shvit_s1",  # 6.3M
    "sknet": "skresnet18",  # 12.0M
    "starnet": "starnet_s050",  # 0.5M
    "swiftformer": "swiftformer_xs",  # 3.5M
    "swin_transformer": "swin_tiny_patch4_window7_224",  # 28.3M
    "swin_transformer_v2": "swinv2_tiny_window8_256",  # 28.3M
    "swin_transformer_v2_cr": "swinv2_cr_tiny_224",  # 28.3M
    "tiny_vit": "tiny_vit_5m_224",  # 12.1M
    "tnt": "tnt_s_legacy_patch16_224",  # 23.8M
    "tresnet": "tresnet_m",  # 31.4M
    "twins": "twins_svt_small",  # 24.1M
    "vgg": "vgg11",  # 132.9M
    "visformer": "visformer_tiny",  # 10.3M
    "vision_transformer": "test_vit",  # 0.4M
    "vision_transformer_hybrid": "vit_tiny_r_s16_p8_224",  # 6.3M
    "vision_transformer_relpos": "test_vit_relpos",  # 0.9M
    "vision_transformer_sam": "samvit_base_patch16_224",  # 86.5M
    "vitamin": "vitamin_small_224",  # 22.2M
    "volo": "volo_d1_224",  # 26.6M
    "vovnet": "ese_vovnet19b_slim_dw",  # 1.9M
    "xception": "legacy_xception",  # 22.9M
    "xception_aligned": "xception41p",  # 26.9M
    "xcit": "xcit_nano_12_p8_224",  # 3.0M
}
# extra families: an arch.tag whose pretrained configuration exercises something else
TAGGED: dict[str, str] = {
    "convnext-squash": "convnextv2_nano.fcmae_ft_in22k_in1k_384",  # crop_mode squash, 384 px
}
# cheap families that also run in `make test`: a transformer that needs timm's switch away
# from fused attention to trace (eva), a crop_mode squash configuration, a plain CNN
SLICE = {"eva", "convnext-squash", "resnet", "levit"}
# families the loader refuses up front (exporters/loaders/timm.py REFUSED), with the words
# the refusal must contain
FORMATS = ("onnx", "openvino", "tflite", "torchscript")
ONNX_ROUTES = ("onnx", "openvino", "tflite")
REFUSED = {name: dict.fromkeys(FORMATS, "no classifier head")
           for name in ("deepseek_vit", "gemma4_vit", "qwen3_vit")}
# refused for the routes through torch.onnx only (TorchScript traces them)
REFUSED_ONNX = {"byoanet": dict.fromkeys(ONNX_ROUTES, "Unfold")}
# refused for TFLite only (exporters/loaders/timm.py NO_TFLITE)
REFUSED_TFLITE = {"sknet": {"tflite": "selective-kernel"}, "csatv2": {"tflite": "segmentation fault"},
                  "volo": {"tflite": "outlook attention"}}


def smallest_per_module() -> dict[str, str]:
    """The architecture with the fewest parameters in each module (built on the meta device),
    preferring those with a classifier head."""
    import timm
    import torch

    table = {}
    for module in timm.list_modules():
        sizes = []
        for name in timm.list_models(module=module):
            with torch.device("meta"):
                model = timm.create_model(name, pretrained=False)
            headless = getattr(model, "num_classes", 0) == 0
            sizes.append((headless, sum(p.numel() for p in model.parameters()), name))
        table[module] = min(sizes)[2]
    return table


def _transform(model: Any) -> Any:
    import timm

    return timm.data.create_transform(**timm.data.resolve_data_config(model=model), is_training=False)


def _batch(model: Any) -> Any:
    import torch
    from PIL import Image

    transform = _transform(model)
    return torch.stack([transform(Image.fromarray(rgb)) for rgb in photos("classify")])


def build_checkpoint(arch: str, folder: Path, seed: int = 0) -> Path:
    """A bare state dict of ``arch`` with random weights that behave like trained ones."""
    import timm
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    with reproducible(seed):
        model = timm.create_model(arch, pretrained=False).eval()
        randomize_norms(model, seed, small_branch_ends=True)
        calibrate_batch_norms(model, _batch(model))
    path = folder / f"{arch.replace('.', '-')}.pth"
    torch.save(model.state_dict(), path)
    return path


@cache
def _model(arch: str, checkpoint: Path) -> tuple[Any, Any]:
    import timm
    import torch

    model = timm.create_model(arch, pretrained=False).eval()
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model, _transform(model)


def framework_predict(arch: str, checkpoint: Path, rgb: np.ndarray) -> list[dict[str, Any]]:
    """timm's eval transform, the model, softmax: the top-5 classes."""
    import torch
    from PIL import Image

    model, transform = _model(arch, checkpoint)
    with torch.inference_mode():
        probs = model(transform(Image.fromarray(rgb))[None]).softmax(-1)[0].double().numpy()
    top = np.argsort(-probs, kind="stable")[:5]
    return [{"class_id": int(i), "class_name": f"class_{int(i)}", "confidence": float(probs[i])} for i in top]


def empty_checkpoint(folder: Path) -> Path:
    """For a family refused by name: the refusal comes before any weights are read, so a
    token state dict stands in for the (hundreds of megabytes of) real ones."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"patch_embed.proj.weight": torch.zeros(8, 3, 14, 14)}, folder / "weights.pth")
    return folder / "weights.pth"


def _family(name: str, arch: str) -> Family:
    if name in REFUSED:
        return Family(name=f"timm/{name}", library="timm", task="classify", build=empty_checkpoint,
                      export_args=("--model-name", arch), note=arch, refused=REFUSED[name])
    return Family(
        name=f"timm/{name}",
        library="timm",
        task="classify",
        build=lambda folder: build_checkpoint(arch, folder),
        export_args=("--model-name", arch),
        framework_predict=lambda ckpt, rgb, conf: framework_predict(arch, ckpt, rgb),
        in_slice=name in SLICE,
        note=arch,
        refused={**REFUSED_ONNX.get(name, {}), **REFUSED_TFLITE.get(name, {})},
    )


FAMILIES: list[Family] = [_family(module, arch) for module, arch in {**SMALLEST, **TAGGED}.items()]
