"""The CUB fine-tuning loop: it learns, checkpoints every epoch and resumes exactly."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from fixtures_real import make_fake_cub
from whynot.data.cub import CUB200, download_cub
from whynot.models.common import IMAGENET_MEAN, IMAGENET_STD, CheckpointError, NormalizedModel
from whynot.models.finetune import (cub_test_transform, cub_train_transform, cub_vgg16_bn, finetune_cub,
                                    load_finetuned)

SIZE = 32


@pytest.fixture(scope="module")
def cub_root(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cub")
    fake = make_fake_cub(directory / "source")
    return download_cub(directory / "data", url=fake.archive.as_uri(), md5=fake.md5)


def stand_in_model(seed: int = 0) -> NormalizedModel:
    """A tiny CNN in place of vgg16_bn (with dropout, so that seeding matters)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Dropout(0.2), nn.Linear(8, 3))
    return NormalizedModel(net, IMAGENET_MEAN, IMAGENET_STD, {"name": "stand_in"})


def mean_loss(model: nn.Module, dataset) -> float:
    images, labels = map(torch.stack, zip(*[(x, torch.tensor(y)) for x, y in dataset]))
    with torch.no_grad():
        return nn.functional.cross_entropy(model.eval()(images), labels).item()


def train_set(root):
    return CUB200(root, "train", size=SIZE, transform=cub_train_transform(SIZE))


def test_training_lowers_the_loss_and_checkpoints(cub_root, tmp_path):
    model = stand_in_model()
    clean = CUB200(cub_root, "train", size=SIZE)
    before = mean_loss(model, clean)
    history = finetune_cub(model, train_set(cub_root), epochs=6, checkpoint_path=tmp_path / "ck.pt",
                           batch_size=3, lr=0.05)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert mean_loss(model, clean) < before - 0.05
    assert not model.training
    checkpoint = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert checkpoint["epoch"] == 6 and checkpoint["history"] == history
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # atomic save leaves no temp files


def test_resuming_continues_at_the_next_epoch_and_matches_an_uninterrupted_run(cub_root, tmp_path):
    straight = stand_in_model()
    straight_history = finetune_cub(straight, train_set(cub_root), epochs=2,
                                    checkpoint_path=tmp_path / "straight.pt", batch_size=4, lr=0.05)

    first = stand_in_model()
    first_history = finetune_cub(first, train_set(cub_root), epochs=1,
                                 checkpoint_path=tmp_path / "resumed.pt", batch_size=4, lr=0.05)
    assert first_history == straight_history[:1]
    resumed = stand_in_model(seed=123)  # different initial weights: the checkpoint must replace them
    resumed_history = finetune_cub(resumed, train_set(cub_root), epochs=2,
                                   checkpoint_path=tmp_path / "resumed.pt", batch_size=4, lr=0.05)
    assert resumed_history == straight_history
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key

    finished = stand_in_model(seed=7)  # all epochs done: only loads the weights
    assert finetune_cub(finished, train_set(cub_root), epochs=2, checkpoint_path=tmp_path / "resumed.pt") \
        == straight_history
    assert torch.equal(finished.net[-1].weight, straight.net[-1].weight)
    reloaded = load_finetuned(stand_in_model(seed=9), tmp_path / "resumed.pt")
    assert torch.equal(reloaded.net[-1].weight, straight.net[-1].weight)


def test_bad_checkpoints_and_epochs_are_rejected(cub_root, tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="delete it to start over"):
        finetune_cub(stand_in_model(), train_set(cub_root), epochs=1, checkpoint_path=tmp_path / "bad.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"not a finetune_cub .*\(no \['epoch', 'history', 'optimizer'\]\)"):
        load_finetuned(stand_in_model(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="at least 1"):
        finetune_cub(stand_in_model(), train_set(cub_root), epochs=0, checkpoint_path=tmp_path / "x.pt")


def test_cub_vgg16_bn_has_the_authors_head():
    classes = [f"bird {i}" for i in range(200)]
    with torch.device("meta"):  # the structure only: no memory, no 138M-parameter initialisation
        model = cub_vgg16_bn(classes, imagenet_weights=False)
    head = model.net.classifier[6]
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (4096, 200)
    meta = model.whynot_meta
    assert meta["class_names"] == tuple(classes) and meta["default_layer"] == "net.features.40"
    assert meta["mean"] == pytest.approx(IMAGENET_MEAN) and not model.training


def test_test_transform_squashes_to_a_square():
    from PIL import Image

    out = cub_test_transform(50)(Image.new("RGB", (120, 40), (255, 0, 0)))
    assert out.shape == (3, 50, 50) and torch.allclose(out[0], torch.ones(50, 50))
