"""COCO val2017 pointing data: the real instances format on a tiny fixture, boxes as masks, errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from whynot.data import coco
from whynot.data.imagenet import IMAGENET_CLASSES

FIXTURE = Path(__file__).parent / "fixtures" / "coco_instances_tiny.json"


@pytest.fixture
def root(tmp_path):
    """A COCO folder: the fixture as annotations/instances_val2017.json and its three images."""
    (tmp_path / "annotations").mkdir()
    shutil.copy(FIXTURE, tmp_path / coco.INSTANCES)
    (tmp_path / coco.IMAGES).mkdir()
    for image in json.loads(FIXTURE.read_text())["images"]:
        pixels = np.random.default_rng(image["id"]).integers(0, 256, (image["height"], image["width"], 3))
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / coco.IMAGES / image["file_name"])
    return tmp_path


def test_instances_parse_images_categories_and_boxes():
    parsed = coco.load_instances(FIXTURE)
    assert parsed.images[139] == ("000000000139.jpg", 60, 40)
    assert parsed.categories == {1: "person", 17: "cat", 18: "dog", 25: "giraffe"}
    assert parsed.boxes[139] == [(18, (6.0, 4.0, 24.0, 16.0)), (1, (40.0, 10.0, 15.0, 28.0))]
    assert len(parsed.boxes[632]) == 2  # the crowd region counts: the cat is there


def test_box_masks_scale_with_the_resize_and_cover_the_union():
    mask = coco.box_mask([(6.0, 4.0, 24.0, 16.0)], width=60, height=40, size=10)
    # columns: centres at 3, 9, ..., 57 px: inside [6, 30] for 9 .. 27 (1 .. 4); rows: 2, 6, .., 38: [4, 20]
    assert mask.nonzero()[:, 1].unique().tolist() == [1, 2, 3, 4]
    assert mask.nonzero()[:, 0].unique().tolist() == [1, 2, 3, 4]
    union = coco.box_mask([(0, 0, 10, 10), (20, 20, 10, 10)], width=30, height=30, size=3)
    assert union.tolist() == [[True, False, False], [False, False, False], [False, False, True]]


def test_pointing_items_keep_mapped_categories_and_count_the_others(root):
    pointing = coco.COCOPointing(root, size=56)
    assert pointing.ids == [139, 632] and len(pointing) == 2  # 285 has only a giraffe
    assert pointing.skipped == {"person": 1, "giraffe": 1}
    image, targets = pointing[0]
    assert image.shape == (3, 56, 56) and 0 <= image.min() and image.max() <= 1
    assert [t.category for t in targets] == ["dog"]
    assert all(IMAGENET_CLASSES[c] for c in targets[0].classes) and 151 in targets[0].classes
    _, (cat,) = pointing[1]
    expected = coco.box_mask([(2, 30, 10, 18), (30, 2, 8, 6)], width=40, height=50, size=56)
    assert torch.equal(cat.mask, expected)
    logits = torch.zeros(1000)
    logits[283] = 5.0  # Persian cat
    assert cat.best_class(logits) == 283


def test_every_mapped_class_is_an_imagenet_index_and_categories_do_not_share_by_accident():
    for name, classes in coco.COCO_TO_IMAGENET.items():
        assert classes and all(0 <= c < 1000 for c in classes), name
    shared = {c for a in coco.COCO_TO_IMAGENET for b in coco.COCO_TO_IMAGENET if a < b
              for c in set(coco.COCO_TO_IMAGENET[a]) & set(coco.COCO_TO_IMAGENET[b])}
    assert shared == {717}  # "pickup": a car and a truck


def test_missing_and_corrupt_files_name_the_fix(root, tmp_path_factory):
    with pytest.raises(FileNotFoundError, match="download_coco"):
        coco.load_instances(root / "annotations" / "nope.json")
    broken = tmp_path_factory.mktemp("broken") / "instances.json"
    broken.write_text(FIXTURE.read_text()[:200])
    with pytest.raises(coco.CocoFormatError, match="not valid JSON"):
        coco.load_instances(broken)
    broken.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(coco.CocoFormatError, match="lacks \\['annotations'\\]"):
        coco.load_instances(broken)
    data = json.loads(FIXTURE.read_text())
    data["annotations"][0]["bbox"] = [1.0, 2.0]
    broken.write_text(json.dumps(data))
    with pytest.raises(coco.CocoFormatError, match="bbox"):
        coco.load_instances(broken)
    data = json.loads(FIXTURE.read_text())
    data["annotations"][0]["category_id"] = 99
    broken.write_text(json.dumps(data))
    with pytest.raises(coco.CocoFormatError, match="category 99"):
        coco.load_instances(broken)
    pointing = coco.COCOPointing(root, size=56)
    (root / coco.IMAGES / "000000000139.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="corrupt"):
        pointing[0]
    (root / coco.IMAGES / "000000000139.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="download_coco"):
        pointing[0]


def test_download_checks_the_md5_and_keeps_nothing_on_a_mismatch(tmp_path, monkeypatch):
    def fake_fetch(url, destination, hint=""):
        destination.write_bytes(b"not the archive")
        return "0" * 32

    monkeypatch.setattr(coco, "fetch", fake_fetch)
    with pytest.raises(ValueError, match="checksum mismatch"):
        coco.download_coco(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_environment_variable_is_required(monkeypatch):
    monkeypatch.delenv(coco.COCO_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=coco.COCO_ENV):
        coco.coco_pointing_from_env()


def test_download_unpacks_verified_archives_into_the_layout(tmp_path, monkeypatch):
    import hashlib
    import zipfile

    archives = {}
    for name, members in (("val2017.zip", {"val2017/000000000139.jpg": b"jpeg"}),
                          ("annotations_trainval2017.zip", {coco.INSTANCES: FIXTURE.read_bytes()})):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zipped:
            for member, data in members.items():
                zipped.writestr(member, data)
        archives[name] = path
    monkeypatch.setattr(coco, "COCO_ZIPS", {name: (name, hashlib.md5(path.read_bytes()).hexdigest())
                                            for name, path in archives.items()})

    def fake_fetch(url, destination, hint=""):
        shutil.copy(archives[url], destination)
        return hashlib.md5(destination.read_bytes()).hexdigest()

    monkeypatch.setattr(coco, "fetch", fake_fetch)
    root = coco.download_coco(tmp_path / "coco")
    assert (root / "val2017" / "000000000139.jpg").read_bytes() == b"jpeg"
    assert coco.load_instances(root / coco.INSTANCES).categories[18] == "dog"
    assert sorted(p.name for p in root.iterdir()) == ["annotations", "val2017"]  # no scratch left
