"""The experiments' one image loader gives the same images, in the same order, as before it was
shared (values pinned from the chapters' former loaders)."""
from __future__ import annotations

import pytest
import torch

from whynot.experiments import images as loader


class Meta:
    """A stand-in model: the loader reads only its input size."""

    whynot_meta = {"input_size": 64}


def test_the_seeded_shuffle_is_pinned():
    assert loader.shuffled(10, 0) == [4, 1, 7, 5, 3, 9, 0, 8, 6, 2]
    assert loader.shuffled(10, 3) == [6, 0, 3, 7, 8, 5, 1, 9, 2, 4]


def test_synthbirds_images_are_the_test_split_in_index_order():
    images, labels = loader.load_images("synthbirds", None, 0, 3, 7)
    assert images.shape == (4, 3, 56, 56) and labels.dtype == torch.int64
    assert labels.tolist() == [3, 4, 5, 6]
    assert float(images.double().sum()) == pytest.approx(23125.1378, abs=1e-3)
    birds = loader.load_birds(0, 3, 7)
    assert torch.equal(birds.images, images) and torch.equal(birds.labels.long(), labels)
    assert int(birds.bird_masks.sum()) == 1427 and int(birds.part_masks.sum()) == 934


def test_photos_come_at_the_model_input_size_without_labels():
    photos, labels = loader.load_images("photos", Meta(), 0, 1, 3)
    assert photos.shape == (2, 3, 64, 64) and labels is None
    assert float(photos.double().sum()) == pytest.approx(9806.506, abs=1e-2)


def test_cub_images_come_in_the_seeded_order(tmp_path, monkeypatch):
    from fixtures_real import make_fake_cub

    from whynot.data.cub import CUB200, download_cub

    fake = make_fake_cub(tmp_path / "source")
    root = download_cub(tmp_path / "data", url=fake.archive.as_uri(), md5=fake.md5).parent
    monkeypatch.delenv(loader.CUB_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=loader.CUB_ENV):
        loader.load_images("cub", Meta(), 0, 0, 2)
    monkeypatch.setenv(loader.CUB_ENV, str(root))
    images, labels = loader.load_images("cub", Meta(), 0, 1, 3)
    test = CUB200(root, "test", size=64)
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0)).tolist()[1:3]
    assert torch.equal(images, torch.stack([test[i][0] for i in order]))
    assert labels.tolist() == [int(test.labels[i]) for i in order]
    with pytest.raises(ValueError, match="fewer than this plan's"):
        loader.load_images("cub", Meta(), 0, 0, len(test) + 1)


def test_unknown_data_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="synthbirds, photos, imagenet, cub"):
        loader.load_images("mnist", Meta(), 0, 0, 1)


def test_every_chapter_plan_names_data_the_loader_knows():
    from whynot.experiments import abscam, blurring, groupcam, pgd, vit

    for module in (abscam, blurring, groupcam, pgd, vit):
        for plan in module.PLANS.values():
            for _, data, _ in plan["models"]:
                assert data in loader.DATA, (module.__name__, data)
