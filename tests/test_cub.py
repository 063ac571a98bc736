"""CUB-200-2011: atomic verified download (through file://) and parsing, on a 9-image fake archive."""
from __future__ import annotations

import pytest
import torch

from fixtures_real import FAKE_CUB_PARTS, make_fake_cub
from whynot.data.cub import CUB200, CUB_URL, cub_train_transform, download_cub


@pytest.fixture
def fake(tmp_path):
    return make_fake_cub(tmp_path / "source")


@pytest.fixture
def root(tmp_path, fake):
    root = tmp_path / "data"
    download_cub(root, url=fake.archive.as_uri(), md5=fake.md5)
    return root


def test_download_extracts_only_the_dataset_folder(tmp_path, fake):
    folder = download_cub(tmp_path / "data", url=fake.archive.as_uri(), md5=fake.md5)
    assert folder == tmp_path / "data" / "CUB_200_2011"
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["CUB_200_2011"]  # no archive, no temp dirs
    assert (folder / "parts" / "part_locs.txt").is_file()
    # Already there: returns at once, without touching the (now unreachable) URL.
    assert download_cub(tmp_path / "data", url="file:///nonexistent.tgz") == folder


def test_bad_checksum_raises_and_leaves_nothing(tmp_path, fake):
    with pytest.raises(ValueError, match=rf"MD5 {fake.md5}, expected 0{{32}}\. .*nothing was kept"):
        download_cub(tmp_path / "data", url=fake.archive.as_uri(), md5="0" * 32)
    assert not (tmp_path / "data").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(ValueError):
        download_cub(existing, url=fake.archive.as_uri(), md5="0" * 32)
    assert list(existing.iterdir()) == []


def test_an_incomplete_existing_copy_is_not_overwritten(tmp_path, fake):
    (tmp_path / "data" / "CUB_200_2011" / "images").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="no images.txt.*move it away"):
        download_cub(tmp_path / "data", url=fake.archive.as_uri(), md5=fake.md5)
    assert [p.name for p in (tmp_path / "data" / "CUB_200_2011").iterdir()] == ["images"]


def test_unreachable_url_raises_connection_error_and_leaves_nothing(tmp_path):
    with pytest.raises(ConnectionError, match="could not download"):
        download_cub(tmp_path / "data", url=(tmp_path / "missing.tgz").as_uri(), md5="0" * 32)
    assert not (tmp_path / "data").exists()


def test_splits_labels_and_names(root, fake):
    train, test = CUB200(root, "train", size=32), CUB200(root, "test", size=32)
    assert (len(train), len(test)) == (6, 3)
    assert train.image_ids == [i for i in sorted(fake.labels) if fake.is_train[i]]
    assert test.labels.tolist() == [fake.labels[i] - 1 for i in test.image_ids] == [0, 1, 2]
    assert train.class_names == ("Black footed Albatross", "Laysan Albatross", "Sooty Albatross")
    assert train.part_names == FAKE_CUB_PARTS
    image, label = test[1]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 1
    assert 0 <= image.min() and image.max() <= 1
    assert image[1].mean() > image[0].mean() + 0.3  # class 2 images are green


def test_boxes_and_parts_are_scaled_to_the_resized_image(root, fake):
    test = CUB200(root, "test", size=100)
    for index, image_id in enumerate(test.image_ids):
        width, height = fake.sizes[image_id]
        x, y, w, h = fake.boxes[image_id]
        sx, sy = 100 / width, 100 / height
        annotations = test.annotations(index)
        torch.testing.assert_close(annotations["box"], torch.tensor([x * sx, y * sy, (x + w) * sx, (y + h) * sy]))
        expected = torch.tensor([[px * sx, py * sy, v] for px, py, v in fake.parts[image_id]])
        torch.testing.assert_close(annotations["parts"], expected)
        torch.testing.assert_close(test.boxes[index], torch.tensor(fake.boxes[image_id]))  # originals kept
    assert test.annotations(0)["parts"][1].tolist() == [0.0, 0.0, 0.0]  # invisible part stays at 0


def test_root_may_be_the_dataset_folder_itself(root):
    assert len(CUB200(root / "CUB_200_2011", "test")) == 3


def test_missing_dataset_says_what_to_download_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CUB_200_2011/images.txt.*data.caltech.edu.*download_cub"):
        CUB200(tmp_path, "test")
    assert CUB_URL.startswith("https://data.caltech.edu/")


def test_unknown_split_and_bad_size_are_rejected(root):
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\)"):
        CUB200(root, "val")
    with pytest.raises(ValueError, match="positive int"):
        CUB200(root, "test", size=0)


def test_train_transform_is_random_but_seedable(root):
    train = CUB200(root, "train", transform=cub_train_transform(size=40))
    torch.manual_seed(1)
    first = train[0][0]
    torch.manual_seed(1)
    assert torch.equal(first, train[0][0])
    assert first.shape == (3, 40, 40) and 0 <= first.min() and first.max() <= 1
    assert not torch.equal(train[0][0], train[0][0])
