"""The rehearsal of the full profile (whynot.rehearsal): its fixtures are in the real formats and go
through the real download functions, checksums included; the switches it flips, and only those."""
from __future__ import annotations

import tarfile

import pandas as pd
import pytest
import torch

from whynot import rehearsal
from whynot.data import coco, cub
from whynot.data.imagenet import IMAGENET_CLASSES, imagenet_val
from whynot.experiments.plans import plan_batches
from whynot.models.pretrained import pretrained_model
from whynot.profiles import get_profile


@pytest.fixture
def rehearsing(monkeypatch):
    monkeypatch.setenv(rehearsal.REHEARSAL_ENV, "1")


def test_cub_archive_downloads_through_download_cub_with_its_checksum(tmp_path):
    archive = rehearsal.make_cub_archive(tmp_path)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"CUB_200_2011/images.txt", "CUB_200_2011/parts/part_locs.txt",
            "CUB_200_2011/bounding_boxes.txt", "attributes.txt"} <= names

    with pytest.raises(ValueError, match="checksum mismatch"):
        cub.download_cub(tmp_path / "bad", url=archive.as_uri(), md5="0" * 32)
    assert not (tmp_path / "bad").exists()  # a failed download leaves nothing behind
    md5 = rehearsal.md5_of(archive)
    folder = cub.download_cub(tmp_path / "data", url=archive.as_uri(), md5=md5)

    per_class = len(rehearsal.CUB_IMAGES_PER_CLASS)
    test = cub.CUB200(folder.parent, "test", size=32)
    train = cub.CUB200(folder, "train", size=32)
    assert len(test) == len(train) == per_class * len(rehearsal.CUB_CLASSES) // 2
    assert test.part_names == rehearsal.CUB_PARTS and len(test.part_names) == 15
    assert test.class_names[3] == "Groove billed Ani"
    assert test.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    image, label = test[0]
    assert image.shape == (3, 32, 32) and label == 0
    box = test.annotations(0)["box"]  # 20 % to 80 % of the width, 15 % to 85 % of the height
    assert torch.allclose(box, torch.tensor([6.4, 4.8, 25.6, 27.2]), atol=0.1)
    hidden = test.part_locations[..., 2] == 0
    assert hidden.any() and (test.part_locations[hidden][:, :2] == 0).all()


def test_coco_archives_download_through_download_coco_with_their_checksums(tmp_path):
    archives = rehearsal.make_coco_archives(tmp_path)
    zips = {name: (path.as_uri(), rehearsal.md5_of(path)) for name, path in archives.items()}
    assert zips.keys() == coco.COCO_ZIPS.keys()

    corrupt = dict(zips, **{"val2017.zip": (zips["val2017.zip"][0], "0" * 32)})
    with pytest.raises(ValueError, match="checksum mismatch"):
        coco.download_coco(tmp_path / "bad", zips=corrupt)
    assert not (tmp_path / "bad" / coco.IMAGES).exists()
    with pytest.raises(KeyError, match="val2017.zip"):
        coco.download_coco(tmp_path / "bad", zips={})

    root = coco.download_coco(tmp_path / "coco", zips=zips)
    pointing = coco.COCOPointing(root, size=56)
    assert len(pointing) == rehearsal.COCO_IMAGES  # every image has a mapped category
    assert pointing.skipped == {"person": rehearsal.COCO_IMAGES}  # one person box per image
    image, targets = pointing[0]
    assert image.shape == (3, 56, 56)
    assert [t.category for t in targets] == ["bicycle", "cat"]
    assert all(t.mask.any() for t in targets)


def test_imagenet_folder_labels_are_the_global_class_indices(tmp_path):
    val = imagenet_val(rehearsal.make_imagenet_val(tmp_path / "val"), size=32)
    per_class = rehearsal.IMAGENET_IMAGES_PER_CLASS
    assert len(val) == per_class * len(rehearsal.IMAGENET_CLASS_INDICES)
    labels = [label for _, label in val.samples]
    assert labels == [i for i in rehearsal.IMAGENET_CLASS_INDICES for _ in range(per_class)]
    last_two = labels[-per_class - 1:-per_class + 1]
    assert [IMAGENET_CLASSES[i] for i in last_two] == ["espresso", "cup"]


def test_the_rehearsal_caps_the_full_profile_and_nothing_else(monkeypatch):
    monkeypatch.delenv(rehearsal.REHEARSAL_ENV, raising=False)
    plans = {"full": {"models": [("vgg16", "imagenet", 5000)], "batch_size": 64},
             "default": {"models": [("synth_vgg", "synthbirds", 500)], "batch_size": 64}}
    assert (get_profile("full").n_images, get_profile("full").few) == (5794, False)
    assert plan_batches("full", plans)[0] == [("vgg16", "imagenet", 5000)]

    monkeypatch.setenv(rehearsal.REHEARSAL_ENV, "1")
    full = get_profile("full")
    assert (full.n_images, full.batch_size, full.device, full.real_data) == (2, 1, "cpu", True)
    assert full.few and get_profile("smoke").few  # the notebooks' own samples at their least
    assert (get_profile("default").n_images, get_profile("default").few) == (500, False)
    assert plan_batches("full", plans, n_images=1)[0] == [("vgg16", "imagenet", 1)]
    chosen, batches = plan_batches("full", plans)
    assert chosen == [("vgg16", "imagenet", 2)]
    assert [(b["start"], b["stop"]) for b in batches] == [(0, 1), (1, 2)]
    assert plan_batches("default", plans)[0] == [("synth_vgg", "synthbirds", 500)]
    # SynthBirds runs as planned (small models, as in the default profile): only real data shrinks
    plans["full"]["models"].append(("synth_vgg", "synthbirds", 1080))
    chosen, batches = plan_batches("full", plans)
    assert chosen == [("vgg16", "imagenet", 2), ("synth_vgg", "synthbirds", 1080)]
    assert [b["stop"] for b in batches] == [1, 2, *range(64, 1080, 64), 1080]


def test_rehearsed_models_are_the_architectures_at_seeded_random_weights(rehearsing, capsys):
    model = pretrained_model("resnet18")
    again = pretrained_model("resnet18")
    assert "resnet18 at random weights" in capsys.readouterr().out  # the outputs say so
    assert model.whynot_meta["input_size"] == rehearsal.INPUT_SIZE
    assert model.whynot_meta["default_layer"] == "net.layer4"
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    images = torch.rand(2, 3, rehearsal.INPUT_SIZE, rehearsal.INPUT_SIZE)
    assert model(images).shape == (2, 1000)
    assert rehearsal.input_size("vit_b_16", 224) == 224  # its patch grid is fixed
    # every full-profile architecture runs at its rehearsal size (AlexNet's pools need 64)
    alexnet = pretrained_model("alexnet")
    assert alexnet.whynot_meta["input_size"] == 64
    assert alexnet(torch.rand(1, 3, 64, 64)).shape == (1, 1000)


def test_outside_the_rehearsal_models_keep_their_input_size(monkeypatch):
    monkeypatch.delenv(rehearsal.REHEARSAL_ENV, raising=False)
    assert rehearsal.input_size("resnet18", 224) == 224
    assert not rehearsal.active()



def test_the_rehearsal_never_writes_into_the_books_outputs(capsys):
    from whynot import book

    with pytest.raises(SystemExit):
        book.main(["execute", "--profile", "rehearsal", "--out", "book/executed",
                   "00_data_and_models"])
    assert "never go into book/executed" in capsys.readouterr().err


def test_rehearsed_sanity_checks_randomise_the_top_layers_only(monkeypatch):
    from test_explainers import tiny_cnn

    from whynot.experiments import evaluation

    model = tiny_cnn(dtype=torch.float32)  # three layers with weights

    def explain(net, images, classes, method):
        return images[:, 0] * net(images).gather(1, classes[:, None])[:, :, None]

    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    monkeypatch.delenv(rehearsal.REHEARSAL_ENV, raising=False)
    every = evaluation.sanity_checks(model, images, ["m"], seed=0, explain=explain)
    monkeypatch.setenv(rehearsal.REHEARSAL_ENV, "1")
    top = evaluation.sanity_checks(model, images, ["m"], seed=0, explain=explain)
    assert sorted(every.depth.unique()) == [1, 2, 3]
    assert sorted(top.depth.unique()) == list(range(1, rehearsal.SANITY_LAYERS + 1))
    pd.testing.assert_frame_equal(top, every[every.depth <= rehearsal.SANITY_LAYERS]
                                  .reset_index(drop=True))
