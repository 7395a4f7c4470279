"""Run the exported model on images given on the command line and print JSON lines.

    python runtimes/python/example.py image1.jpg [image2.jpg ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from model_wrapper import ModelWrapper

PACKAGE = Path(__file__).resolve().parents[2]


def main() -> None:
    metadata = json.loads((PACKAGE / "metadata.json").read_text(encoding="utf-8"))
    model = ModelWrapper(PACKAGE / metadata["model_info"]["model_file"], PACKAGE / "metadata.json")
    for image in sys.argv[1:]:
        print(json.dumps({"image": image, "predictions": model.predict(image)}))


if __name__ == "__main__":
    main()
