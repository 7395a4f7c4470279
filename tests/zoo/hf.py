"""Hugging Face families: every model type of transformers' image-classification,
object-detection and semantic-segmentation auto-mappings (one family per head class
where a type has several, e.g. DeiT with its distillation teacher).

Each family is the library's default configuration of the type (shrunk in depth and
width so the zoo runs on two cores; ``note`` says what was shrunk), random weights
brought to life (random norms and layer scales, batch norms calibrated on real photos
through the family's own processor, class heads spread so predictions are confident),
saved with save_pretrained() beside the type's own default image processor (the hub's
settings where the popular checkpoints differ, e.g. microsoft/resnet-50's
ConvNextImageProcessor at shortest_edge 224). The framework's own pipeline is the
processor, the model and the processor's post-processing (transformers' pipelines do
exactly this): top-5 classes, ``post_process_object_detection`` boxes (clipped to the
image, as the package's wrapper gives them) or ``post_process_semantic_segmentation``'s
class map.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from tests.zoo import Family
from tests.zoo.weights import photos, randomize_norms

LABELS = ["person", "bicycle", "car", "cat", "dog", "bird", "boat", "chair", "bottle", "plant"]
_VIT = {"num_hidden_layers": 2, "hidden_size": 96, "num_attention_heads": 3, "intermediate_size": 192}
_VIT_NOTE = "2 layers, width 96"
_DETR = {"use_pretrained_backbone": False, "backbone": "resnet18", "encoder_layers": 1, "decoder_layers": 2,
         "num_queries": 100}
_DETR_NOTE = "timm resnet18 backbone, 1+2 layers, 100 queries"
_FIXED_SIZE = {"tflite": "a TFLite model takes one input size"}  # shortest/longest-edge processors
_RT_BACKBONE = {"model_type": "rt_detr_resnet", "depths": [1, 1, 1, 1], "hidden_sizes": [64, 128, 256, 512],
                "embedding_size": 32, "out_features": ["stage2", "stage3", "stage4"]}
_RT = {"backbone_config": _RT_BACKBONE, "encoder_in_channels": [128, 256, 512], "decoder_layers": 2,
       "num_queries": 100, "encoder_ffn_dim": 256, "decoder_ffn_dim": 256}
_RT_NOTE = "ResNet-vd backbone 1-1-1-1 blocks, 2 decoder layers, 100 queries"
_CONVNEXT_HUB = {"size": {"shortest_edge": 224}, "crop_pct": 0.875}
_ONE_BLOCK = {"depths": [1, 1, 1, 1]}
_SMALL_CONVNEXT = {**_ONE_BLOCK, "hidden_sizes": [24, 48, 96, 192]}
_TINY = {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2}
_SEMANTIC_BEIT = {**_VIT, "num_hidden_layers": 4, "out_indices": [0, 1, 2, 3], "use_auxiliary_head": False}


@dataclass(frozen=True)
class Recipe:
    model_type: str
    task: str
    architecture: str
    config: dict[str, Any] = field(default_factory=dict)  # over the type's default config
    processor: str | None = None  # default: the type's own (slow) image processor
    processor_args: dict[str, Any] = field(default_factory=dict)  # the hub's settings
    note: str = ""
    refused: str = ""  # words every format's refusal contains
    refused_formats: dict[str, str] = field(default_factory=dict)  # format → words its refusal contains
    export_args: tuple[str, ...] = ()
    in_slice: bool = False
    suffix: str = ""  # tells apart the families of one model type

    @property
    def name(self) -> str:
        return f"huggingface/{self.model_type}{self.suffix}"


def _c(model_type: str, architecture: str, config: dict[str, Any] | None = None, note: str = "",
       **kwargs: Any) -> Recipe:
    return Recipe(model_type, "classify", architecture, config or {}, note=note, **kwargs)


RECIPES: list[Recipe] = [
    # --- image classification
    _c("beit", "BeitForImageClassification", _VIT, _VIT_NOTE),
    _c("bit", "BitForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks"),
    _c("clip", "CLIPForImageClassification", {"vision_config": _VIT}, _VIT_NOTE),
    _c("convnext", "ConvNextForImageClassification", _SMALL_CONVNEXT,
       "1-1-1-1 blocks, widths 24-192; facebook/convnext-tiny-224's processor", processor_args=_CONVNEXT_HUB,
       in_slice=True),
    _c("convnextv2", "ConvNextV2ForImageClassification", _SMALL_CONVNEXT,
       "1-1-1-1 blocks, widths 24-192; facebook/convnextv2-tiny-1k-224's processor",
       processor_args=_CONVNEXT_HUB),
    _c("cvt", "CvtForImageClassification", {"depth": [1, 2, 3], "embed_dim": [32, 96, 192]},
       "1-2-3 blocks, widths 32-192; microsoft/cvt-13's processor", processor="ConvNextImageProcessor",
       processor_args=_CONVNEXT_HUB),
    _c("data2vec-vision", "Data2VecVisionForImageClassification", _VIT, _VIT_NOTE),
    _c("deit", "DeiTForImageClassification", _VIT, _VIT_NOTE),
    _c("deit", "DeiTForImageClassificationWithTeacher", _VIT, _VIT_NOTE, suffix="-teacher"),
    _c("dinat", "DinatForImageClassification", {}, refused="natten"),
    _c("dinov2", "Dinov2ForImageClassification", _VIT, _VIT_NOTE + "; hub BitImageProcessor",
       processor="BitImageProcessor", processor_args={"size": {"shortest_edge": 256}}),
    _c("dinov2_with_registers", "Dinov2WithRegistersForImageClassification", _VIT,
       _VIT_NOTE + "; hub BitImageProcessor (none in the mapping)", processor="BitImageProcessor",
       processor_args={"size": {"shortest_edge": 256}}),
    _c("donut-swin", "DonutSwinForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks",
       refused="do_thumbnail"),
    _c("efficientformer", "EfficientFormerForImageClassification", _ONE_BLOCK, "1-1-1-1 blocks"),
    _c("efficientformer", "EfficientFormerForImageClassificationWithTeacher",
       {"depths": [1, 1, 1, 1], "hidden_size": 448}, "1-1-1-1 blocks; hidden_size set (the class reads it)",
       suffix="-teacher"),
    _c("efficientnet", "EfficientNetForImageClassification",
       {"width_coefficient": 1.0, "depth_coefficient": 0.5, "image_size": 224, "hidden_dim": 1280},
       "B0 widths, half depth; google/efficientnet-b0's 224x224", processor_args={"size": {"height": 224,
                                                                                             "width": 224}}),
    _c("focalnet", "FocalNetForImageClassification", {"depths": [1, 1, 1, 1], "embed_dim": 48},
       "1-1-1-1 blocks, width 48; hub BitImageProcessor", processor="BitImageProcessor",
       processor_args={"size": {"shortest_edge": 256}}),
    _c("hgnet_v2", "HGNetV2ForImageClassification", {},
       "BitImageProcessor (none in the mapping, no hub classifier)", processor="BitImageProcessor",
       processor_args={"size": {"shortest_edge": 256}}),
    _c("hiera", "HieraForImageClassification", {"depths": [1, 1, 1, 1], "embed_dim": 48},
       "1-1-1-1 blocks, width 48", processor_args={"size": {"shortest_edge": 256}}),
    _c("ijepa", "IJepaForImageClassification", _VIT, _VIT_NOTE),
    _c("imagegpt", "ImageGPTForImageClassification", {"n_layer": 1, "n_embd": 64, "n_head": 2},
       refused="colour-cluster ids"),
    _c("levit", "LevitForImageClassification", {"depths": [1, 1, 1]}, "1-1-1 blocks"),
    _c("levit", "LevitForImageClassificationWithTeacher", {"depths": [1, 1, 1]}, "1-1-1 blocks",
       suffix="-teacher"),
    _c("metaclip_2", "MetaClip2ForImageClassification", {"vision_config": _VIT}, _VIT_NOTE),
    _c("mobilenet_v1", "MobileNetV1ForImageClassification"),
    _c("mobilenet_v2", "MobileNetV2ForImageClassification"),
    _c("mobilevit", "MobileViTForImageClassification"),
    _c("mobilevitv2", "MobileViTV2ForImageClassification", refused_formats={"tflite": "col2im"}),
    _c("nat", "NatForImageClassification", {}, refused="natten"),
    _c("perceiver", "PerceiverForImageClassificationLearned",
       {"num_latents": 32, "d_latents": 64, "num_self_attends_per_block": 1, "num_cross_attention_heads": 1,
        "num_self_attention_heads": 2, "image_size": 224}, "32 latents of 64, 1 block",
       suffix="-learned"),
    _c("perceiver", "PerceiverForImageClassificationFourier",
       {"num_latents": 32, "d_latents": 64, "num_self_attends_per_block": 1, "num_cross_attention_heads": 1,
        "num_self_attention_heads": 2, "image_size": 224}, "32 latents of 64, 1 block",
       suffix="-fourier"),
    _c("perceiver", "PerceiverForImageClassificationConvProcessing",
       {"num_latents": 32, "d_latents": 64, "num_self_attends_per_block": 1, "num_cross_attention_heads": 1,
        "num_self_attention_heads": 2, "image_size": 224}, "32 latents of 64, 1 block",
       suffix="-conv"),
    _c("poolformer", "PoolFormerForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks"),
    _c("pvt", "PvtForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks"),
    _c("pvt_v2", "PvtV2ForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks"),
    _c("regnet", "RegNetForImageClassification", {"depths": [1, 1, 1, 1]},
       "1-1-1-1 blocks; facebook/regnet-y-040's processor", processor_args=_CONVNEXT_HUB),
    _c("resnet", "ResNetForImageClassification", {"depths": [1, 1, 1, 1]},
       "1-1-1-1 blocks; microsoft/resnet-50's processor", processor_args=_CONVNEXT_HUB),
    _c("segformer", "SegformerForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks",
       refused_formats={"tflite": "parity gate"}),
    _c("shieldgemma2", "ShieldGemma2ForImageClassification",
       {"text_config": {**_TINY, "num_key_value_heads": 1, "head_dim": 32, "vocab_size": 512},
        "vision_config": _TINY},
       "a tiny Gemma 3", refused="text prompt"),
    _c("siglip", "SiglipForImageClassification", {"vision_config": _VIT}, _VIT_NOTE),
    _c("siglip2", "Siglip2ForImageClassification", {"vision_config": _VIT}, _VIT_NOTE,
       refused="max_num_patches"),
    _c("swiftformer", "SwiftFormerForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks"),
    _c("swin", "SwinForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks"),
    _c("swinv2", "Swinv2ForImageClassification", {"depths": [1, 1, 1, 1]}, "1-1-1-1 blocks"),
    _c("textnet", "TextNetForImageClassification", {},
       "default config; --imgsz 640 (its processor keeps the aspect)", export_args=("--imgsz", "640")),
    _c("timm_wrapper", "TimmWrapperForImageClassification", {"architecture": "resnet18"},
       "timm resnet18 (timm/resnet18.a1_in1k's shape)"),
    _c("van", "VanForImageClassification", {"depths": [1, 1, 1, 1]},
       "1-1-1-1 blocks; Visual-Attention-Network/van-base's processor", processor="ConvNextImageProcessor",
       processor_args=_CONVNEXT_HUB),
    _c("vit", "ViTForImageClassification", _VIT, _VIT_NOTE),
    _c("vit_hybrid", "ViTHybridForImageClassification",
       {**_VIT, "backbone_config": {"model_type": "bit", "depths": [1, 1], "out_features": ["stage2"],
                                    "layer_type": "bottleneck", "global_padding": "same"},
        "backbone_featmap_shape": [1, 512, 28, 28]}, _VIT_NOTE + ", BiT 1-1 blocks"),
    _c("vit_msn", "ViTMSNForImageClassification", _VIT, _VIT_NOTE),
    # --- object detection
    Recipe("detr", "detect", "DetrForObjectDetection", _DETR, note=_DETR_NOTE, in_slice=True,
           refused_formats=_FIXED_SIZE),
    Recipe("detr", "detect", "DetrForObjectDetection", _DETR, note=_DETR_NOTE + "; --imgsz 640",
           export_args=("--imgsz", "640"), suffix="-imgsz640"),
    Recipe("conditional_detr", "detect", "ConditionalDetrForObjectDetection", _DETR, note=_DETR_NOTE,
           refused_formats=_FIXED_SIZE),
    Recipe("conditional_detr", "detect", "ConditionalDetrForObjectDetection", _DETR,
           note=_DETR_NOTE + "; --imgsz 640", export_args=("--imgsz", "640"), suffix="-imgsz640"),
    Recipe("dab-detr", "detect", "DabDetrForObjectDetection", _DETR,
           processor="ConditionalDetrImageProcessor", refused_formats={"tflite": "anchor-box"},
           note=_DETR_NOTE + "; IDEA-Research/dab-detr-resnet-50's processor"),
    Recipe("dab-detr", "detect", "DabDetrForObjectDetection", _DETR, refused_formats={"tflite": "anchor-box"},
           processor="ConditionalDetrImageProcessor", export_args=("--imgsz", "640"), suffix="-imgsz640",
           note=_DETR_NOTE + "; IDEA-Research/dab-detr-resnet-50's processor; --imgsz 640"),
    Recipe("deformable_detr", "detect", "DeformableDetrForObjectDetection",
           {**_DETR, "encoder_layers": 1, "decoder_layers": 1}, note=_DETR_NOTE,
           refused="--imgsz"),
    Recipe("deformable_detr", "detect", "DeformableDetrForObjectDetection",
           {**_DETR, "encoder_layers": 1, "decoder_layers": 1}, note=_DETR_NOTE + "; --imgsz 640",
           export_args=("--imgsz", "640"), suffix="-imgsz640"),
    Recipe("deta", "detect", "DetaForObjectDetection", {"encoder_layers": 1, "decoder_layers": 1},
           refused="NMS"),
    Recipe("rt_detr", "detect", "RTDetrForObjectDetection", _RT, note=_RT_NOTE,
           refused_formats={"tflite": "deformable attention"}),
    Recipe("rt_detr_v2", "detect", "RTDetrV2ForObjectDetection", _RT, processor="RTDetrImageProcessor",
           note=_RT_NOTE + "; PekingU/RTDetrV2's processor",
           refused_formats={"tflite": "deformable attention"}),
    Recipe("d_fine", "detect", "DFineForObjectDetection",
           {"backbone_config": {"model_type": "hgnet_v2", "stage_in_channels": [48, 64, 128, 256],
                                "stage_mid_channels": [32, 64, 96, 128],
                                "stage_out_channels": [64, 128, 256, 512], "stage_num_blocks": [1, 1, 1, 1],
                                "hidden_sizes": [64, 128, 256, 512],
                                "stage_numb_of_layers": [3, 3, 3, 3],
                                "out_features": ["stage2", "stage3", "stage4"]},
            "encoder_in_channels": [128, 256, 512], "decoder_layers": 2, "num_queries": 100,
            "encoder_ffn_dim": 256, "decoder_ffn_dim": 256},
           processor="RTDetrImageProcessor",
           note="HGNetV2 1-1-1-1 blocks of 3 layers, 2 decoder layers, 100 queries; "
                "ustc-community/dfine-*'s processor", refused_formats={"tflite": "deformable attention"}),
    Recipe("table-transformer", "detect", "TableTransformerForObjectDetection", _DETR,
           processor="DetrImageProcessor", note=_DETR_NOTE, refused_formats=_FIXED_SIZE),
    Recipe("table-transformer", "detect", "TableTransformerForObjectDetection", _DETR,
           processor="DetrImageProcessor", note=_DETR_NOTE + "; --imgsz 640", export_args=("--imgsz", "640"),
           suffix="-imgsz640"),
    Recipe("yolos", "detect", "YolosForObjectDetection", {**_VIT, "num_detection_tokens": 20},
           note=_VIT_NOTE + ", 20 detection tokens", refused_formats=_FIXED_SIZE),
    Recipe("yolos", "detect", "YolosForObjectDetection", {**_VIT, "num_detection_tokens": 20},
           note=_VIT_NOTE + ", 20 detection tokens; --imgsz 640", export_args=("--imgsz", "640"),
           suffix="-imgsz640"),
    # --- semantic segmentation
    Recipe("segformer", "semantic", "SegformerForSemanticSegmentation", {"depths": [1, 1, 1, 1]},
           note="1-1-1-1 blocks", suffix="-semantic", in_slice=True,
           refused_formats={"tflite": "parity gate"}),
    Recipe("beit", "semantic", "BeitForSemanticSegmentation", _SEMANTIC_BEIT, note="4 layers, width 96",
           suffix="-semantic"),
    Recipe("data2vec-vision", "semantic", "Data2VecVisionForSemanticSegmentation", _SEMANTIC_BEIT,
           note="4 layers, width 96", suffix="-semantic"),
    Recipe("dpt", "semantic", "DPTForSemanticSegmentation",
           {**_VIT, "num_hidden_layers": 4, "backbone_out_indices": [0, 1, 2, 3], "use_auxiliary_head": False,
            "neck_hidden_sizes": [24, 48, 96, 96], "fusion_hidden_size": 64}, note="4 layers, width 96",
           suffix="-semantic", refused_formats={"tflite": "parity gate"}),
    Recipe("mobilenet_v2", "semantic", "MobileNetV2ForSemanticSegmentation", suffix="-semantic"),
    Recipe("mobilevit", "semantic", "MobileViTForSemanticSegmentation", suffix="-semantic"),
    Recipe("mobilevitv2", "semantic", "MobileViTV2ForSemanticSegmentation", suffix="-semantic",
           refused_formats={"tflite": "col2im"}),
    Recipe("upernet", "semantic", "UperNetForSemanticSegmentation",
           {"backbone_config": {"model_type": "resnet", **_ONE_BLOCK, "hidden_sizes": [32, 64, 128, 256],
                                "embedding_size": 32, "out_features": [f"stage{i}" for i in range(1, 5)]},
            "hidden_size": 64, "use_auxiliary_head": False},
           note="ResNet 1-1-1-1 backbone, width 64; openmmlab/upernet-*'s SegformerImageProcessor",
           suffix="-semantic"),
]


# --- building ------------------------------------------------------------------


def _processor(recipe: Recipe) -> Any:
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    if recipe.model_type == "timm_wrapper":
        import timm

        cfg = timm.create_model(recipe.config["architecture"], pretrained=False).pretrained_cfg
        return transformers.TimmWrapperImageProcessor(pretrained_cfg=cfg)
    name = recipe.processor or IMAGE_PROCESSOR_MAPPING_NAMES[recipe.model_type][0]
    return getattr(transformers, name)(**recipe.processor_args)


def _config(recipe: Recipe) -> Any:
    from transformers import AutoConfig

    labels = dict(enumerate(LABELS))
    config = AutoConfig.for_model(recipe.model_type, **copy.deepcopy(recipe.config), num_labels=len(LABELS),
                                  id2label=labels, label2id={name: i for i, name in labels.items()})
    config.architectures = [recipe.architecture]
    if recipe.model_type == "timm_wrapper":  # timm checkpoints keep their data config in config.json
        import timm

        config.pretrained_cfg = timm.create_model(config.architecture, pretrained=False).pretrained_cfg
    return config


def _heads(model: Any) -> list[Any]:
    """The class heads: layers with one output per class (and the no-object class)."""
    import torch

    classes = len(LABELS)
    found = []
    for module in model.modules():
        out = module.out_features if isinstance(module, torch.nn.Linear) else None
        if isinstance(module, torch.nn.Conv2d):
            out = module.out_channels
        if out in (classes, classes + 1):
            found.append(module)
    return found


def _liven(model: Any, recipe: Recipe, inputs: list[Any], seed: int) -> None:
    """Trained-like statistics: random norms and layer scales, constant parameters made
    random (zero-initialised tokens, heads and biases), every batch norm (frozen ones too)
    calibrated on real photos, and the class heads spread so predictions are confident."""
    import torch

    g = torch.Generator().manual_seed(seed)
    randomize_norms(model, seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and p.is_floating_point() and float(p.detach().std()) == 0.0:
                p.add_(torch.randn(p.shape, generator=g) * max(0.02, 0.1 * float(p.detach().abs().mean())))

    def calibrate(module: Any, args: tuple[Any, ...]) -> None:
        x = args[0].detach()
        dims = [d for d in range(x.dim()) if d != 1]
        module.running_mean.copy_(x.mean(dim=dims))
        module.running_var.copy_(x.var(dim=dims) + 1e-3)

    hooks = [m.register_forward_pre_hook(calibrate) for m in model.modules()
             if isinstance(getattr(m, "running_mean", None), torch.Tensor)
             and isinstance(getattr(m, "running_var", None), torch.Tensor)]
    model.eval()
    same_size = len({tuple(t.shape) for t in inputs}) == 1
    with torch.no_grad():  # one pass, each norm calibrated on what reaches it
        model(torch.cat(inputs) if same_size else inputs[0])
    for hook in hooks:
        hook.remove()
    _spread_heads(model, recipe, inputs)


def _spread_heads(model: Any, recipe: Recipe, inputs: list[Any], boxes: int = 8) -> None:
    """Class logits spread to a standard deviation of 3 (clear top-1 classes, segment maps
    with several classes); detectors shifted so about ``boxes`` queries per photo pass 0.5."""
    import torch

    heads = _heads(model)
    if recipe.task != "classify":
        _blind_to_image_means(model, heads, inputs)
    with torch.no_grad():
        for head in heads:  # the scores follow the image, not a constant
            if head.bias is not None:
                head.bias.zero_()
        logits = [model(x).logits.float() for x in inputs]
        gain = 3.0 / max(float(torch.cat([t.flatten() for t in logits]).std()), 1e-12)
        for head in heads:
            head.weight.mul_(gain)
        if recipe.task != "detect":
            return
        logits = [model(x).logits.float()[0] for x in inputs]
        if logits[0].shape[-1] == len(LABELS) + 1:  # softmax with a no-object class
            shift = float(np.median([_no_object_shift(t, boxes) for t in logits]))
            for head in heads:
                if head.bias is not None and head.bias.numel() == len(LABELS) + 1:
                    head.bias[-1] += shift
        else:  # sigmoid: the boxes-th best (query, class) pair sits at 0
            shift = float(np.median([float(torch.topk(t.flatten(), boxes).values[-1]) for t in logits]))
            for head in heads:
                if head.bias is not None:
                    head.bias -= shift


def _blind_to_image_means(model: Any, heads: list[Any], inputs: list[Any]) -> None:
    """Per-query (per-pixel) heads of a random network mostly read what every position of
    an image shares, so all queries of a photo score alike (all pass, or none). Each head
    is made blind to the photos' mean features: its scores then vary within each image."""
    import torch

    means: dict[int, list[Any]] = {id(h): [] for h in heads}

    def record(module: Any, args: tuple[Any, ...]) -> None:
        x = args[0].detach().float()
        if isinstance(module, torch.nn.Conv2d):
            means[id(module)].append(x.mean(dim=(2, 3)))
        else:
            means[id(module)].append(x.reshape(x.shape[0], -1, x.shape[-1]).mean(dim=1))

    hooks = [h.register_forward_pre_hook(record) for h in heads]
    with torch.no_grad():
        for x in inputs:
            model(x)
        for hook in hooks:
            hook.remove()
        for head in heads:
            if not means[id(head)]:
                continue
            basis = torch.linalg.qr(torch.cat(means[id(head)]).T).Q  # (features, photos)
            weight = head.weight.movedim(1, -1)  # features last
            weight -= (weight @ basis) @ basis.T


def _no_object_shift(logits: Any, boxes: int) -> float:
    """The shift of the no-object logit that leaves ``boxes`` queries scoring above 0.5."""
    import torch

    low, high = -100.0, 100.0
    for _ in range(50):
        mid = (low + high) / 2
        shifted = logits.clone()
        shifted[:, -1] += mid
        count = int((torch.softmax(shifted, -1)[:, :-1].max(-1).values > 0.5).sum())
        low, high = (mid, high) if count > boxes else (low, mid)
    return (low + high) / 2


@contextmanager
def _vit_hybrid_init() -> Iterator[None]:
    """transformers' ViTHybrid initialises a mask token its classifier never creates (a bug
    of the deprecated class): that one step is skipped while building."""
    import torch
    from transformers.models.deprecated.vit_hybrid import modeling_vit_hybrid as module

    original = module.ViTHybridPreTrainedModel._init_weights

    def init(self: Any, m: Any) -> None:
        if isinstance(m, module.ViTHybridEmbeddings) and m.mask_token is None:
            m.mask_token = torch.nn.Parameter(torch.zeros(1))
            original(self, m)
            m.mask_token = None
            return
        original(self, m)

    module.ViTHybridPreTrainedModel._init_weights = init
    try:
        yield
    finally:
        module.ViTHybridPreTrainedModel._init_weights = original


def build(recipe: Recipe, folder: Path, seed: int = 0, live: bool = True) -> Path:
    """A random-weight save_pretrained() folder of the recipe's family; ``live`` false skips
    bringing the weights to life (for exports that are refused before they are read)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = _config(recipe)
    processor = _processor(recipe)
    folder.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(str(folder))
    model_class = getattr(transformers, recipe.architecture)
    live = live and not recipe.refused  # refused families are refused before their weights are read
    try:
        with _vit_hybrid_init() if recipe.model_type == "vit_hybrid" else nullcontext():
            model = model_class(config).eval()
    except ImportError:  # the family needs a package this machine lacks (natten): config only
        if live:
            raise
        from safetensors.torch import save_file

        config.save_pretrained(str(folder))
        save_file({"unbuilt": torch.zeros(1)}, str(folder / "model.safetensors"))
        return folder
    if live:
        images = photos(recipe.task)[:4]
        inputs = [processor(images=rgb, return_tensors="pt")["pixel_values"] for rgb in images]
        _liven(model, recipe, inputs, seed)
    model.save_pretrained(str(folder))
    return folder


# --- the framework's own pipeline ----------------------------------------------------------


@cache
def _loaded(checkpoint: Path) -> tuple[Any, Any]:
    """The folder's image processor and model, as transformers' pipelines load them."""
    import transformers

    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    model_class = getattr(transformers, config["architectures"][0])
    # the labels again: PvtConfig resets num_labels to 1000 on load (a transformers bug)
    labels = {int(k): v for k, v in config.get("id2label", {}).items()}  # timm keeps label_names
    extra = {"id2label": labels} if labels else {}
    model = model_class.from_pretrained(str(checkpoint), local_files_only=True, **extra).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(str(checkpoint), local_files_only=True)
    return processor, model


def framework_predict(recipe: Recipe, checkpoint: Path, rgb: np.ndarray, conf: float) -> list[dict[str, Any]]:
    """The processor, the model and the processor's post-processing, in the wrapper's shape."""
    import torch

    processor, model = _loaded(Path(checkpoint))
    args = list(recipe.export_args)
    # --imgsz N makes the processor's resize an exact N x N, for the framework's pipeline too
    n = int(args[args.index("--imgsz") + 1]) if "--imgsz" in args else None
    size = {"size": {"height": n, "width": n}} if n else {}
    with torch.no_grad():
        out = model(processor(images=rgb, return_tensors="pt", **size)["pixel_values"])
    h, w = rgb.shape[:2]
    names = LABELS
    if recipe.task == "classify":
        probs = torch.softmax(out.logits[0].float(), -1)
        top = torch.argsort(probs, descending=True, stable=True)[:5]
        return [{"class_id": int(i), "class_name": names[int(i)], "confidence": float(probs[i])} for i in top]
    if recipe.task == "detect":
        found = processor.post_process_object_detection(out, threshold=conf, target_sizes=[(h, w)])[0]
        limit = np.array([w, h, w, h], dtype=np.float64)
        return [{"class_id": int(c), "class_name": names[int(c)], "confidence": float(s),
                 "bbox": np.clip(b.double().numpy(), 0, limit).tolist()}
                for s, c, b in zip(found["scores"], found["labels"], found["boxes"], strict=True)]
    class_map = processor.post_process_semantic_segmentation(out, target_sizes=[(h, w)])[0].numpy()
    resized = torch.nn.functional.interpolate(out.logits.float(), size=(h, w), mode="bilinear",
                                              align_corners=False)
    probs = torch.softmax(resized, dim=1)[0].max(0).values.numpy()
    segments = []
    for cid in np.unique(class_map):
        mask = class_map == cid
        ys, xs = np.nonzero(mask)
        segments.append({"class_id": int(cid), "class_name": names[int(cid)],
                         "confidence": float(probs[mask].mean()), "area": float(mask.mean()),
                         "bbox": [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)],
                         "mask": mask})
    return sorted(segments, key=lambda s: -s["area"])


FORMATS = ("onnx", "openvino", "tflite", "torchscript")
FAMILIES: list[Family] = [
    Family(
        name=r.name,
        library="huggingface",
        task=r.task,
        build=partial(build, r),
        export_args=r.export_args,
        framework_predict=None if r.refused else partial(framework_predict, r),
        refused={fmt: r.refused for fmt in FORMATS} if r.refused else dict(r.refused_formats),
        in_slice=r.in_slice,
        note=r.note,
    )
    for r in RECIPES
]
