"""Regenerate the sample timm classifier: mobilenetv3_small_050 trained on digits.

    python resources/samples/digits-timm/train.py       # about two minutes on 2 CPU cores

Writes a bare state dict (model.pth, what most timm users keep), labels.txt,
dataset/val (ImageFolder) and metrics.json. Training sees the images through
timm's own evaluation transform for the architecture, the same preprocessing
an export records in metadata.json.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ARCH = "mobilenetv3_small_050"
EPOCHS = 12


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    from digits_data import CLASSES, digit_images, offline_workspace, write_imagefolder

    with offline_workspace():
        import timm
        import torch
        from PIL import Image

        torch.manual_seed(0)
        torch.use_deterministic_algorithms(True)
        model = timm.create_model(ARCH, pretrained=False, num_classes=len(CLASSES))
        config = timm.data.resolve_data_config({}, model=model)
        transform = timm.data.create_transform(**config, is_training=False)

        train_x, val_x, train_y, val_y = digit_images()

        def tensors(images: list[np.ndarray]) -> torch.Tensor:
            return torch.stack([transform(Image.fromarray(img)) for img in images])

        xt, yt = tensors(train_x), torch.as_tensor(train_y)
        xv, yv = tensors(val_x), torch.as_tensor(val_y)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=EPOCHS * 23)
        generator = torch.Generator().manual_seed(0)
        for epoch in range(EPOCHS):
            model.train()
            for idx in torch.randperm(len(xt), generator=generator).split(64):
                loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
            model.eval()
            with torch.no_grad():
                top1 = float((model(xv).argmax(1) == yv).float().mean())
            print(f"epoch {epoch + 1}/{EPOCHS} loss {loss.item():.3f} val top-1 {top1:.3f}")
        torch.save(model.state_dict(), HERE / "model.pth")
    (HERE / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    shutil.rmtree(HERE / "dataset", ignore_errors=True)
    write_imagefolder(HERE / "dataset" / "val", val_x, val_y)
    result = {"top1": top1, "epochs": EPOCHS, "architecture": ARCH, "input_size": config["input_size"]}
    (HERE / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
