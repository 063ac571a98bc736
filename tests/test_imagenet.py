"""ImageNet class table and the ImageFolder validation loader, on a tiny fixture folder."""
from __future__ import annotations

import pytest
import torch
from torchvision.models import ResNet18_Weights

from fixtures_real import make_fake_imagenet_val
from whynot.data.imagenet import IMAGENET_CLASSES, IMAGENET_WNIDS, imagenet_val


def test_class_table_is_complete_and_in_wnid_order():
    assert len(IMAGENET_CLASSES) == len(set(IMAGENET_CLASSES)) == 1000
    assert len(set(IMAGENET_WNIDS)) == 1000 and list(IMAGENET_WNIDS) == sorted(IMAGENET_WNIDS)
    assert IMAGENET_CLASSES == tuple(ResNet18_Weights.DEFAULT.meta["categories"])
    assert (IMAGENET_WNIDS[0], IMAGENET_CLASSES[0]) == ("n01440764", "tench")
    assert (IMAGENET_WNIDS[281], IMAGENET_CLASSES[281]) == ("n02123045", "tabby")
    assert (IMAGENET_WNIDS[999], IMAGENET_CLASSES[999]) == ("n15075141", "toilet tissue")


def test_labels_are_global_class_indices_even_for_a_subset(tmp_path):
    root = make_fake_imagenet_val(tmp_path / "val", ("n01440764", "n07920052"))
    val = imagenet_val(root, size=32)
    assert len(val) == 4 and sorted(val.targets) == [0, 0, 967, 967]
    image, label = val[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1 and label == 967


def test_missing_folder_explains_layout_and_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*n01440764.*image-net.org"):
        imagenet_val(tmp_path / "nowhere")


def test_folders_that_are_not_wnids_are_named(tmp_path):
    root = make_fake_imagenet_val(tmp_path / "val", ("n01440764", "goldfish"))
    with pytest.raises(ValueError, match=r"not ImageNet-1k wnids \(first: \['goldfish'\]\)"):
        imagenet_val(root)


def test_flat_folder_without_class_folders_is_rejected(tmp_path):
    (tmp_path / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"")
    with pytest.raises(ValueError, match="no class folders"):
        imagenet_val(tmp_path)
