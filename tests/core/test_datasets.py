"""The validation-data readers: real bundled samples, every supported layout, every bad input.

The readers never decode images, so most fixtures use empty image files.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core.datasets import (
    ClassificationItem,
    Dataset,
    DetectionItem,
    check_classes,
    label_path,
    load_classification_dataset,
    load_dataset,
    load_detection_dataset,
)
from core.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"
SHAPES = SAMPLES / "shapes-yolo11n" / "dataset"
SHAPES_NAMES = ["circle", "square", "triangle", "star"]
DIGITS = [str(i) for i in range(10)]


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def yolo_folder(root: Path, labels: dict[str, str | None], split: str = "val") -> Path:
    """images/<split>/<name>.png (empty files) with labels/<split>/<name>.txt from ``labels``."""
    for name, text in labels.items():
        write(root / "images" / split / f"{name}.png")
        if text is not None:
            write(root / "labels" / split / f"{name}.txt", text)
    return root


def yolo_yaml(root: Path, labels: dict[str, str | None], names: str = "[a, b]", extra: str = "") -> Path:
    yolo_folder(root, labels)
    return write(root / "data.yaml", f"path: .\nval: images/val\nnames: {names}\n{extra}")


def bad(path: Path, task: str = "detect", **kwargs: int) -> str:
    with pytest.raises(BadInput) as info:
        load_dataset(path, task, **kwargs)
    return info.value.message


# -- real samples ----------------------------------------------------------------------------------

def test_real_yolo_data_yaml() -> None:
    ds = load_dataset(SHAPES / "data.yaml", "detect")
    assert ds.task == "detect" and ds.source == "YOLO data.yaml (val split)"
    assert ds.class_names == SHAPES_NAMES and ds.root == SHAPES
    items = ds.detections()
    assert len(items) == 48 and all(isinstance(i, DetectionItem) for i in items)
    assert [i.image.name for i in items] == sorted(p.name for p in (SHAPES / "images" / "val").iterdir())
    assert all(len(i.classes) >= 1 for i in items)  # every sample image has objects
    for item in items:
        assert item.boxes.dtype == np.float32 and item.boxes.shape == (len(item.classes), 4)
        assert item.classes.dtype == np.int64
        assert ((item.boxes >= 0) & (item.boxes <= 1)).all()
        assert set(item.classes.tolist()) <= {0, 1, 2, 3}
    first = items[0]
    assert first.image.name == "val_0000.jpg" and first.classes.tolist() == [3, 1]
    np.testing.assert_allclose(first.boxes[0], [0.243442, 0.551885, 0.160481, 0.165549], rtol=1e-6)
    xyxy = first.boxes_xyxy(200, 100)
    assert xyxy.dtype == np.float32 and xyxy.shape == (2, 4)
    np.testing.assert_allclose(xyxy[0], [32.6403, 46.91105, 64.7365, 63.46595], atol=1e-3)
    np.testing.assert_allclose(xyxy[1], [134.3751, 11.15425, 182.8321, 35.38275], atol=1e-3)
    check_classes(ds, SHAPES_NAMES)


def test_real_yolo_folder_uses_val_split_and_names_from_its_yaml() -> None:
    ds = load_detection_dataset(SHAPES)
    assert ds.source == "YOLO folder (images/val + labels/val)"
    assert ds.class_names == SHAPES_NAMES and len(ds.items) == 48
    by_yaml = load_detection_dataset(SHAPES / "data.yaml")
    assert [i.image for i in ds.detections()] == [i.image for i in by_yaml.detections()]


@pytest.mark.parametrize("sample", ["digits-timm", "digits-hf"])
@pytest.mark.parametrize("sub", ["dataset", "dataset/val"])
def test_real_image_folders(sample: str, sub: str) -> None:
    folder = SAMPLES / sample / "dataset" / "val"
    ds = load_dataset(SAMPLES / sample / sub, "classify")
    assert ds.task == "classify" and ds.root == folder
    assert ds.source == ("ImageFolder (val split)" if sub == "dataset" else "ImageFolder")
    labels = (SAMPLES / "digits-timm" / "labels.txt").read_text().split()
    assert ds.class_names == labels == DIGITS
    items = ds.classifications()
    assert all(isinstance(i, ClassificationItem) for i in items)
    expected = {i: len(list((folder / name).iterdir())) for i, name in enumerate(DIGITS)}
    assert Counter(i.class_id for i in items) == expected and len(items) == 360
    assert all(i.image.parent.name == DIGITS[i.class_id] for i in items)
    check_classes(ds, labels)


def test_max_images_keeps_every_class_and_is_deterministic() -> None:
    path = SAMPLES / "digits-timm" / "dataset"
    for count in (10, 25, 100):
        ds = load_classification_dataset(path, max_images=count)
        assert len(ds.items) == count
        assert {i.class_id for i in ds.classifications()} == set(range(10)), count
        assert ds.items == load_classification_dataset(path, max_images=count).items
    shares = Counter(i.class_id for i in load_classification_dataset(path, max_images=100).classifications())
    assert max(shares.values()) - min(shares.values()) <= 1  # classes are near-equal in size
    few = load_classification_dataset(path, max_images=3).classifications()
    assert len(few) == 3 and len({i.class_id for i in few}) == 3
    assert len(load_classification_dataset(path, max_images=1000).items) == 360


def test_max_images_for_detection_spreads_over_the_sorted_list() -> None:
    ds = load_detection_dataset(SHAPES / "data.yaml", max_images=4)
    assert [i.image.name for i in ds.detections()] == ["val_0000.jpg", "val_0012.jpg", "val_0024.jpg",
                                                       "val_0036.jpg"]


# -- layouts ---------------------------------------------------------------------------------------

def test_folder_layout_without_yaml_takes_names_from_classes_txt(tmp_path: Path) -> None:
    root = tmp_path / "valid"
    write(root / "images" / "a.png")
    write(root / "images" / "b.png")
    write(root / "labels" / "a.txt", "1 0.5 0.5 0.25 0.5\n")
    write(tmp_path / "classes.txt", "cat\ndog\n\n")
    ds = load_detection_dataset(root)
    assert ds.source == "YOLO folder (images/ + labels/)" and ds.class_names == ["cat", "dog"]
    a, b = ds.detections()
    assert a.classes.tolist() == [1] and b.boxes.shape == (0, 4) and b.classes.shape == (0,)
    assert b.boxes_xyxy(10, 10).shape == (0, 4)
    np.testing.assert_allclose(a.boxes_xyxy(100, 40), [[37.5, 10, 62.5, 30]])
    write(root / "data.yaml", "names: {0: x, 1: y, 2: z}\n")  # the folder's own names win
    assert load_detection_dataset(root).class_names == ["x", "y", "z"]


def test_folder_layout_without_any_names_is_an_error(tmp_path: Path) -> None:
    yolo_folder(tmp_path / "ds", {"a": "0 0.5 0.5 0.1 0.1\n"})
    message = bad(tmp_path / "ds")
    assert "No class names" in message and "classes.txt" in message and "data.yaml" in message


def test_image_list_txt(tmp_path: Path) -> None:
    yolo_folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "b": "1 0.5 0.5 0.2 0.2\n", "c": None})
    elsewhere = write(tmp_path / "other" / "images" / "d.jpg")
    write(tmp_path / "other" / "labels" / "d.txt", "1 0.1 0.1 0.1 0.1\n")
    lines = f"../images/val/a.png\n\n# comment\n./../images/val/c.png\n{elsewhere}\n"
    write(tmp_path / "lists" / "val.txt", lines)
    write(tmp_path / "data.yaml", "path: .\nval: lists/val.txt\nnames: [a, b]\n")
    items = load_detection_dataset(tmp_path / "data.yaml").detections()
    assert [i.image.name for i in items] == ["a.png", "c.png", "d.jpg"]  # b is not listed
    assert [i.classes.tolist() for i in items] == [[0], [], [1]]


def test_yaml_split_fallbacks_names_list_and_relative_path(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "train" / "images" / "t.png")
    write(root / "train" / "labels" / "t.txt", "0 0.5 0.5 1 1\n")
    write(root / "test" / "images" / "s.png")
    write(root / "test" / "labels" / "s.txt", "1 0.5 0.5 1 1\n")
    yaml_path = write(tmp_path / "cfg" / "data.yaml", "path: ../data\ntrain: train/images\nnames: [p, q]\n")
    ds = load_detection_dataset(yaml_path)
    assert ds.source == "YOLO data.yaml (train split)" and ds.root == tmp_path / "cfg" / ".." / "data"
    write(yaml_path, "path: ../data\ntrain: train/images\ntest: test/images\nval:\nnames: [p, q]\nnc: 2\n")
    ds = load_detection_dataset(yaml_path)
    assert ds.source == "YOLO data.yaml (test split)" and [i.image.name for i in ds.detections()] == ["s.png"]
    # Roboflow writes val: ../valid/images next to a data.yaml that sits in the dataset root.
    write(root / "valid" / "images" / "v.png")
    write(root / "valid" / "labels" / "v.txt", "0 0.5 0.5 1 1\n")
    write(root / "data.yaml", "train: ../train/images\nval: ../valid/images\nnames: [p, q]\n")
    ds = load_detection_dataset(root)  # a folder without images/ but with a data.yaml
    assert ds.source == "YOLO data.yaml (val split)" and [i.image.name for i in ds.detections()] == ["v.png"]


def test_polygon_keypoint_and_duplicate_rows(tmp_path: Path) -> None:
    polygon = "2 0.1 0.2 0.5 0.2 0.3 0.6"  # 7 numbers: a triangle
    pose_even = "1 0.5 0.5 0.2 0.2 " + " ".join(["0.4 0.4 2"] * 3)  # 14 numbers, visibility 2
    yolo_yaml(tmp_path, {"img": f"\ufeff{polygon}\n\n{pose_even}\n{polygon}\n"}, names="[a, b, c]")
    (item,) = load_detection_dataset(tmp_path / "data.yaml").detections()
    assert item.classes.tolist() == [2, 1]  # the duplicate polygon is dropped
    np.testing.assert_allclose(item.boxes, [[0.3, 0.4, 0.4, 0.4], [0.5, 0.5, 0.2, 0.2]], atol=1e-6)
    assert not item.boxes.flags.writeable and not item.classes.flags.writeable
    pose_odd = "0 0.5 0.5 0.2 0.2 0.9 0.9 0.1 0.1"  # 9 numbers: 2 keypoints x 2, or a 4-point polygon
    write(tmp_path / "labels" / "val" / "img.txt", pose_odd + "\n")
    (item,) = load_detection_dataset(tmp_path / "data.yaml").detections()
    np.testing.assert_allclose(item.boxes, [[0.5, 0.5, 0.8, 0.8]], atol=1e-6)  # polygon by default
    write(tmp_path / "data.yaml", "path: .\nval: images/val\nnames: [a, b, c]\nkpt_shape: [2, 2]\n")
    (item,) = load_detection_dataset(tmp_path / "data.yaml").detections()
    np.testing.assert_allclose(item.boxes, [[0.5, 0.5, 0.2, 0.2]], atol=1e-6)  # declared pose rows


def test_coordinates_within_tolerance_are_clipped(tmp_path: Path) -> None:
    yolo_yaml(tmp_path, {"img": "0 1.0005 -0.0004 0.5 0.5\n"})
    (item,) = load_detection_dataset(tmp_path / "data.yaml").detections()
    np.testing.assert_allclose(item.boxes, [[1.0, 0.0, 0.5, 0.5]])
    np.testing.assert_allclose(item.boxes_xyxy(100, 100), [[75, 0, 100, 25]])  # clipped to the image


def test_hidden_files_and_non_images_are_skipped(tmp_path: Path) -> None:
    yolo_yaml(tmp_path, {"a": "0 0.5 0.5 0.1 0.1\n"})
    write(tmp_path / "images" / "val" / "._a.png")
    write(tmp_path / "images" / "val" / "notes.md")
    write(tmp_path / "images" / "val" / "B.JPG")
    items = load_detection_dataset(tmp_path / "data.yaml").detections()
    assert [i.image.name for i in items] == ["B.JPG", "a.png"]


def test_label_path_rule() -> None:
    assert label_path(Path("/d/images/val/x.y.jpg")) == Path("/d/labels/val/x.y.txt")
    assert label_path(Path("/images/d/images/a.png")) == Path("/images/d/labels/a.txt")
    assert label_path(Path("/d/pics/images")) == Path("/d/pics/images.txt")  # the file name stays
    assert label_path(Path("/d/pics/a.png")) == Path("/d/pics/a.txt")


def test_classification_split_selection_and_empty_class(tmp_path: Path) -> None:
    write(tmp_path / "train" / "cat" / "1.png")
    write(tmp_path / "test" / "cat" / "2.png")
    write(tmp_path / "test" / "dog" / "3.PNG")
    (tmp_path / "test" / "emu").mkdir()
    ds = load_classification_dataset(tmp_path)
    assert ds.source == "ImageFolder (test split)" and ds.class_names == ["cat", "dog", "emu"]
    assert [(i.image.name, i.class_id) for i in ds.classifications()] == [("2.png", 0), ("3.PNG", 1)]
    write(tmp_path / "val" / "b" / "x.webp")
    write(tmp_path / "val" / "a" / "y" / "z.tif")  # nested images belong to the class folder
    ds = load_classification_dataset(tmp_path)
    assert ds.source == "ImageFolder (val split)" and ds.class_names == ["a", "b"]
    assert [i.class_id for i in ds.classifications()] == [0, 1]


def test_items_accessors_check_the_task() -> None:
    ds = Dataset("classify", Path(), ["a"], [ClassificationItem(Path("x.png"), 0)], "test")
    assert ds.classifications() == list(ds.items)
    with pytest.raises(TypeError):
        ds.detections()


# -- bad input -------------------------------------------------------------------------------------

def test_missing_path(tmp_path: Path) -> None:
    for task in ("detect", "classify"):
        assert "does not exist" in bad(tmp_path / "nope", task) and "nope" in bad(tmp_path / "nope", task)


def test_unknown_task_and_bad_max_images(tmp_path: Path) -> None:
    assert "task 'segment'" in bad(tmp_path, "segment")
    assert "max_images" in bad(SHAPES, max_images=0)


def test_unreadable_or_wrong_yaml(tmp_path: Path) -> None:
    yaml_path = yolo_yaml(tmp_path, {"a": "0 0.5 0.5 0.1 0.1\n"})
    write(yaml_path, "names: [a, b\nval: images/val\n")
    assert "is not valid YAML" in bad(yaml_path) and str(yaml_path) in bad(yaml_path)
    write(yaml_path, "- just\n- a list\n")
    assert "does not hold YAML keys" in bad(yaml_path)
    yaml_path.write_bytes(b"names: [\xff\xfe]\n")
    assert "Cannot read" in bad(yaml_path)
    write(yaml_path, "path: .\nval: images/val\n")
    assert "has no 'names'" in bad(yaml_path)
    write(yaml_path, "path: .\nval: images/val\nnames: {0: a, 2: c}\n")
    assert "must be the class ids 0..1 without gaps or repeats; found 0, 2" in bad(yaml_path)
    write(yaml_path, "path: .\nval: images/val\nnames: {zero: a}\n")
    assert "must be the class ids 0..0" in bad(yaml_path) and "found zero" in bad(yaml_path)
    write(yaml_path, "path: .\nval: images/val\nnames: {1: b, '0': a}\n")
    assert load_detection_dataset(yaml_path).class_names == ["a", "b"]
    write(yaml_path, "path: .\nval: images/val\nnames: [a, b]\nnc: 3\n")
    assert "nc is 3" in bad(yaml_path) and "2 classes" in bad(yaml_path)
    write(yaml_path, "path: .\nval: images/val\nnames: [a, b]\nkpt_shape: [17]\n")
    assert "kpt_shape" in bad(yaml_path)
    write(yaml_path, "path: .\nnames: [a, b]\n")
    assert "no 'val', 'test' or 'train'" in bad(yaml_path)
    write(tmp_path / "notes.json", "{}")
    assert "is not a data.yaml" in bad(tmp_path / "notes.json")


def test_missing_images_folder_or_dataset_root(tmp_path: Path) -> None:
    yaml_path = write(tmp_path / "data.yaml", "path: .\nval: images/val\nnames: [a]\n")
    message = bad(yaml_path)
    assert "images folder" in message and str(tmp_path / "images" / "val") in message
    write(yaml_path, "path: /no/such/place\nval: images/val\nnames: [a]\n")
    assert "/no/such/place does not exist" in bad(yaml_path)
    write(tmp_path / "plain" / "a.png")
    assert "not a YOLO detection dataset" in bad(tmp_path / "plain")
    write(tmp_path / "f" / "images" / "a.png")
    assert "no labels/ folder" in bad(tmp_path / "f")


def test_empty_dataset_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "images" / "val").mkdir(parents=True)
    write(tmp_path / "images" / "val" / "readme.txt")
    yaml_path = write(tmp_path / "data.yaml", "path: .\nval: images/val\nnames: [a]\n")
    message = bad(yaml_path)
    assert "No images found" in message and str(tmp_path / "images" / "val") in message and ".jpg" in message
    empty = tmp_path / "cls"
    (empty / "cat").mkdir(parents=True)
    message = bad(empty, "classify")
    assert "No images found" in message and str(empty) in message


def test_dataset_without_any_label_file(tmp_path: Path) -> None:
    yaml_path = yolo_yaml(tmp_path, {"a": None, "b": None})
    message = bad(yaml_path)
    assert "None of the 2 images" in message and str(tmp_path / "labels" / "val" / "a.txt") in message
    write(tmp_path / "labels" / "val" / "b.txt", "")  # an empty label file: an image without objects
    assert [len(i.classes) for i in load_detection_dataset(yaml_path).detections()] == [0, 0]


@pytest.mark.parametrize(("line", "expected"), [
    ("0 0.5 zero 0.1 0.1", "'zero' is not a number"),
    ("0 0.5 nan 0.1 0.1", "not a finite number"),
    ("0 0.5 0.5 0.1", "expected 5 numbers (class cx cy w h), found 4"),
    ("0 0.5 0.5 0.1 0.1 0.9", "found 6 (6 numbers look like predictions"),
    ("0 0.5 0.5 0.1 1.2", "coordinate 1.2 is outside [0, 1]"),
    ("0 12 40 30 30", "coordinate 12 is outside [0, 1]"),
    ("0 0.5 0.5 0.1 -0.01", "coordinate -0.01 is outside [0, 1]"),
    ("0 0.1 0.1 0.5 0.1 1.5 0.9", "coordinate 1.5 is outside [0, 1]"),  # polygon point
    ("1.5 0.5 0.5 0.1 0.1", "class id '1.5' is not a whole number"),
    ("2 0.5 0.5 0.1 0.1", "class id 2 is out of range: the dataset has 2 class names, so ids run 0..1"),
    ("-1 0.5 0.5 0.1 0.1", "class id -1 is out of range"),
])
def test_bad_label_lines_name_file_line_and_problem(tmp_path: Path, line: str, expected: str) -> None:
    with pytest.raises(BadInput) as info:
        load_detection_dataset(yolo_yaml(tmp_path, {"img": f"0 0.5 0.5 0.2 0.2\n\n{line}\n"}))
    label = tmp_path / "labels" / "val" / "img.txt"
    assert info.value.message.startswith(f"{label}, line 3: ") and expected in info.value.message
    assert info.value.details == {"file": str(label), "line": 3}


def test_whole_number_class_written_as_float_is_accepted(tmp_path: Path) -> None:
    (item,) = load_detection_dataset(yolo_yaml(tmp_path, {"img": "1.0 0.5 0.5 0.2 0.2\n"})).detections()
    assert item.classes.tolist() == [1]


def test_bad_image_list_lines(tmp_path: Path) -> None:
    yolo_folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    listing = write(tmp_path / "val.txt", "images/val/a.png\nimages/val/gone.png\n")
    yaml_path = write(tmp_path / "data.yaml", "val: val.txt\nnames: [a]\n")
    gone = tmp_path / "images" / "val" / "gone.png"
    assert bad(yaml_path) == f"{listing}, line 2: image {gone} does not exist."
    write(listing, "images/val/a.png\nlabels/val/a.txt\n")
    assert f"{listing}, line 2: 'labels/val/a.txt' is not an image file" in bad(yaml_path)


def test_bad_classification_folders(tmp_path: Path) -> None:
    assert "is not a folder" in bad(write(tmp_path / "x.png"), "classify")
    write(tmp_path / "loose" / "a.png")
    message = bad(tmp_path / "loose", "classify")
    assert "holds images but no class subfolders" in message and "<class name>" in message


# -- check_classes ---------------------------------------------------------------------------------

def _ds(task: str, names: list[str]) -> Dataset:
    return Dataset(task, Path(), names, [], "test")


def test_check_classes_count_mismatch_gives_both_counts() -> None:
    with pytest.raises(BadInput) as info:
        check_classes(_ds("detect", ["a", "b", "c"]), ["a", "b"])
    assert "3 classes (a, b, c)" in info.value.message and "model has 2 (a, b)" in info.value.message


def test_check_classes_lists_the_first_mismatches() -> None:
    ours = [f"c{i}" for i in range(8)]
    theirs = ["c0", *[f"x{i}" for i in range(1, 8)]]
    with pytest.raises(BadInput) as info:
        check_classes(_ds("classify", ours), theirs)
    message = info.value.message
    assert "id 1: dataset 'c1', model 'x1'" in message and "id 5:" in message
    assert "id 6:" not in message and "(and 2 more)" in message and "id 0:" not in message


def test_check_classes_permutation_is_a_mismatch() -> None:
    with pytest.raises(BadInput) as info:
        check_classes(_ds("detect", SHAPES_NAMES), ["square", "circle", "triangle", "star"])
    assert "id 0: dataset 'circle', model 'square'" in info.value.message
    assert "different order" in info.value.message


def test_check_classes_name_comparison_rules() -> None:
    check_classes(_ds("detect", ["traffic_light", "Stop Sign"]), ["traffic light", "stop-sign"])
    check_classes(_ds("classify", DIGITS), DIGITS)
    with pytest.raises(BadInput, match="id 0: dataset 'Cat', model 'cat'"):
        check_classes(_ds("classify", ["Cat"]), ["cat"])
    with pytest.raises(BadInput, match="id 1: dataset 'dog', model 'doge'"):
        check_classes(_ds("detect", ["cat", "dog"]), ["cat", "doge"])
