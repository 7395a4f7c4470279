"""Regenerate the sample Hugging Face classifier: a small ResNet built from a config.

    python resources/samples/digits-hf/train.py       # about two minutes on 2 CPU cores

No download: the architecture comes from a ResNetConfig, the preprocessing from
a ViTImageProcessor (resize to 64x64, scale to 0..1, normalize by 0.5/0.5).
Writes model/ (save_pretrained: config.json, model.safetensors,
preprocessor_config.json), dataset/val (ImageFolder) and metrics.json.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPOCHS = 10


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    from digits_data import CLASSES, SIZE, digit_images, offline_workspace, write_imagefolder

    with offline_workspace():
        import torch
        from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

        torch.manual_seed(0)
        config = ResNetConfig(
            num_channels=3, embedding_size=24, hidden_sizes=[24, 48, 96, 192], depths=[1, 1, 1, 1],
            layer_type="basic", num_labels=len(CLASSES),
            id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)},
        )
        model = ResNetForImageClassification(config)
        processor = ViTImageProcessor(
            do_resize=True, size={"height": SIZE, "width": SIZE}, resample=2,
            do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
        )
        train_x, val_x, train_y, val_y = digit_images()
        xt = processor(images=train_x, return_tensors="pt")["pixel_values"]
        xv = processor(images=val_x, return_tensors="pt")["pixel_values"]
        yt, yv = torch.as_tensor(train_y), torch.as_tensor(val_y)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
        generator = torch.Generator().manual_seed(0)
        for epoch in range(EPOCHS):
            model.train()
            for idx in torch.randperm(len(xt), generator=generator).split(64):
                loss = model(pixel_values=xt[idx], labels=yt[idx]).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                top1 = float((model(pixel_values=xv).logits.argmax(1) == yv).float().mean())
            print(f"epoch {epoch + 1}/{EPOCHS} loss {loss.item():.3f} val top-1 {top1:.3f}")
        shutil.rmtree(HERE / "model", ignore_errors=True)
        model.save_pretrained(HERE / "model")
        processor.save_pretrained(HERE / "model")
    shutil.rmtree(HERE / "dataset", ignore_errors=True)
    write_imagefolder(HERE / "dataset" / "val", val_x, val_y)
    result = {"top1": top1, "epochs": EPOCHS, "architecture": "resnet (from config)"}
    (HERE / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
