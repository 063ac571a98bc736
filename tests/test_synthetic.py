"""SynthBirds: determinism, caching, class structure, and masks that match the pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from whynot.data import synthetic
from whynot.data.synthetic import (
    ATTRIBUTE_VALUES,
    CLASS_ATTRIBUTES,
    CLASS_NAMES,
    PART_NAMES,
    SPLITS,
    class_attributes,
    confusable_pairs,
    load_synthbirds,
    render_images,
    split_labels,
    split_size,
)

HEAD, WING, TAIL = (PART_NAMES.index(p) for p in ("head", "wing", "tail"))


@pytest.fixture(scope="module")
def sample():
    """Four images of every class from the test split, rendered directly (no cache)."""
    return load_synthbirds("test", n=4 * len(CLASS_NAMES))


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WHYNOT_CACHE", str(tmp_path))
    return tmp_path


def test_class_structure():
    assert len(PART_NAMES) >= 3 and 18 <= len(CLASS_NAMES) <= 50
    assert len(set(CLASS_NAMES)) == len(CLASS_NAMES) == len(set(CLASS_ATTRIBUTES))
    assert class_attributes(5) == dict(zip(PART_NAMES, CLASS_NAMES[5].split("-")))


def test_confusable_pairs_differ_in_exactly_the_named_part():
    pairs = confusable_pairs()
    for a, b, part in pairs:
        assert a < b
        differ = [p for p in PART_NAMES if class_attributes(a)[p] != class_attributes(b)[p]]
        assert differ == [part]
    # every class has (values - 1) neighbours per part, and no one-part pair is missing
    neighbours = sum(len(v) - 1 for v in ATTRIBUTE_VALUES.values())
    assert len(pairs) == len(CLASS_NAMES) * neighbours // 2
    counts = np.bincount([c for a, b, _ in pairs for c in (a, b)], minlength=len(CLASS_NAMES))
    assert (counts == neighbours).all()


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    first = render_images("train", 0, [0, 1, 30])
    again = render_images("train", 0, [0, 1, 30])
    other = render_images("train", 1, [0, 1, 30])
    for key in first:
        assert first[key].tobytes() == again[key].tobytes(), key
    assert not np.array_equal(first["images"], other["images"])
    assert not np.array_equal(first["part_masks"], other["part_masks"])


def test_an_image_depends_only_on_seed_split_and_index():
    alone = render_images("test", 3, [40])
    in_batch = render_images("test", 3, [7, 40, 2])
    for key in alone:
        np.testing.assert_array_equal(alone[key][0], in_batch[key][1], err_msg=key)
    train = render_images("train", 3, [40])
    assert not np.array_equal(alone["images"], train["images"])


def test_cached_split_matches_direct_rendering_and_survives_corruption(tmp_cache):
    size = 32  # a small size keeps building the whole cached split cheap
    full = load_synthbirds("test", seed=2, size=size)
    direct = render_images("test", 2, [0, 5, split_size("test") - 1], size)
    for key, value in direct.items():
        cached = getattr(full, key)[[0, 5, -1]]
        expected = torch.from_numpy(value)
        if key == "images":
            expected = expected.float() / 255
        assert torch.equal(cached, expected), key
    (path,) = tmp_cache.glob("synthbirds/*.npz")
    path.write_bytes(b"not an npz")  # a corrupt cache is rebuilt, not trusted
    rebuilt = load_synthbirds("test", seed=2, size=size, n=10)
    assert torch.equal(rebuilt.images, full.images[:10])
    assert torch.equal(rebuilt.part_masks, full.part_masks[:10])
    assert torch.equal(full.labels, torch.from_numpy(split_labels("test")))


def test_tensors_have_the_documented_types(sample):
    n, s, p = len(sample), 56, len(PART_NAMES)
    assert sample.images.shape == (n, 3, s, s) and sample.images.dtype == torch.float32
    assert 0 <= sample.images.min() and sample.images.max() <= 1
    assert sample.labels.dtype == torch.int64 and sample.attributes.shape == (n, p)
    assert sample.part_masks.shape == (n, p, s, s) and sample.part_masks.dtype == torch.bool
    assert sample.bird_masks.shape == (n, s, s) and sample.bird_masks.dtype == torch.bool
    assert torch.equal(sample.attributes, torch.tensor(CLASS_ATTRIBUTES)[sample.labels])


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_splits_are_class_balanced(split):
    counts = np.bincount(split_labels(split), minlength=len(CLASS_NAMES))
    assert (counts == SPLITS[split]).all()


@settings(max_examples=50, deadline=None)
@given(split=st.sampled_from(sorted(SPLITS)), n=st.integers(1, 1080))
def test_every_prefix_is_class_balanced(split, n):
    counts = np.bincount(split_labels(split)[:n], minlength=len(CLASS_NAMES))
    assert counts.max() - counts.min() <= 1


def test_first_n_images_are_the_balanced_prefix(sample):
    assert sample.labels.tolist() == [i % len(CLASS_NAMES) for i in range(len(sample))]
    assert (sample.labels.bincount(minlength=len(CLASS_NAMES)) == 4).all()


def test_masks_are_disjoint_visible_and_inside_the_bird(sample):
    assert (sample.part_masks.sum(dim=1) <= 1).all()
    assert not (sample.part_masks.any(dim=1) & ~sample.bird_masks).any()
    visible = sample.part_masks.flatten(2).sum(-1) >= 4
    assert visible.float().mean() > 0.95  # occluders hide parts only partly


def test_head_masks_sit_on_the_head_colour(sample):
    """The green/red ratio of the masked pixels recovers the head attribute (red < orange < yellow)."""
    mask = sample.part_masks[:, HEAD, None].float()
    rgb = (sample.images * mask).sum((2, 3)) / mask.sum((2, 3)).clamp(min=1)
    ratio = rgb[:, 1] / rgb[:, 0].clamp(min=1e-3)
    predicted = torch.bucketize(ratio, torch.tensor([0.39, 0.69]))
    assert (predicted == sample.attributes[:, HEAD]).float().mean() >= 0.95
    # the same pixels shifted away from the head do not carry its colour
    shifted = torch.roll(mask, shifts=(12, 12), dims=(2, 3))
    rgb_off = (sample.images * shifted).sum((2, 3)) / shifted.sum((2, 3)).clamp(min=1)
    off = torch.bucketize(rgb_off[:, 1] / rgb_off[:, 0].clamp(min=1e-3), torch.tensor([0.39, 0.69]))
    assert (off == sample.attributes[:, HEAD]).float().mean() < 0.7


def test_wing_and_tail_masks_show_their_attribute(sample):
    wing = sample.part_masks[:, WING, None].float()
    mean = (sample.images * wing).sum((2, 3), keepdim=True) / wing.sum((2, 3), keepdim=True).clamp(min=1)
    variance = (((sample.images - mean) ** 2).sum(1, keepdim=True) * wing).sum((1, 2, 3)) / wing.sum((1, 2, 3))
    plain, barred, spotted = (variance[sample.attributes[:, WING] == v].median() for v in range(3))
    assert plain < 0.25 * min(barred, spotted)  # markings make patterned wings vary
    area = sample.part_masks[:, TAIL].flatten(1).sum(1).float()
    fan, forked, pointed = (area[sample.attributes[:, TAIL] == v].median() for v in range(3))
    assert fan > forked > 2 * pointed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "val"}, "unknown SynthBirds split 'val'"),
        ({"n": 0}, "n must be an int in"),
        ({"n": 10**6}, "n must be an int in"),
        ({"n": 2.5}, "n must be an int in"),
        ({"size": 16}, "size must be an int >= 32"),
        ({"seed": -1}, "seed must be a non-negative int"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_synthbirds(**kwargs)


def test_subset_accepts_indices_slices_and_masks(sample):
    by_list = sample.subset([3, 1])
    assert by_list.labels.tolist() == [3, 1] and torch.equal(by_list.images[1], sample.images[1])
    assert len(sample.subset(slice(0, 5))) == 5 and len(sample.subset(2)) == 1
    keep = sample.labels == 0
    assert torch.equal(sample.subset(keep).part_masks, sample.part_masks[keep])


def test_render_images_rejects_indices_outside_the_split():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1080\)"):
        render_images("test", 0, [1080])


def test_bad_class_label():
    with pytest.raises(ValueError, match="labels are 0..26"):
        class_attributes(len(CLASS_NAMES))


def test_channel_stats_are_per_channel_moments_of_the_train_split(tmp_cache, monkeypatch):
    images = torch.rand(6, 3, 8, 8)
    fake = synthetic.SynthBirds(images, torch.zeros(6, dtype=torch.long), torch.zeros(6, 3, 8, 8, dtype=torch.bool),
                                torch.zeros(6, 3, dtype=torch.long), torch.zeros(6, 8, 8, dtype=torch.bool))
    monkeypatch.setattr(synthetic, "load_synthbirds", lambda split, seed, size: fake)
    synthetic.channel_stats.cache_clear()
    try:
        mean, std = synthetic.channel_stats(seed=9, size=40)
    finally:
        synthetic.channel_stats.cache_clear()
    expected = images.permute(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(mean, expected.mean(1), atol=1e-6)
    np.testing.assert_allclose(std, expected.std(1), atol=1e-6)
