"""SynthBirds: procedural fine-grained "birds" with ground-truth part masks (a CUB-200 stand-in).

Each bird has a body (a nuisance colour) and three class-defining parts: the head colour, the
wing pattern and the tail shape, three values each, so 27 classes. Two classes that differ in
exactly one part form a confusable pair (:func:`confusable_pairs`), the situation "Why Not Other
Classes?" studies. Birds sit on cluttered backgrounds (foliage blobs, branches, distractor blobs in
the head colours), with random pose, scale, position, colour jitter, partial occlusion and noise,
so that a small CNN is accurate but genuinely unsure on a fair share of test images.

Every image is a pure function of ``(seed, split, index)``; class ``index % 27``, so the first
``n`` images of a split are class-balanced. Rasterisation is numpy-only, at twice the output
resolution and averaged down (anti-aliasing). Whole splits are cached as ``.npz`` under
``cache_dir("synthbirds")``.

>>> data = load_synthbirds("test", n=4)
>>> data.images.shape, data.part_masks.shape, CLASS_NAMES[int(data.labels[0])]
(torch.Size([4, 3, 56, 56]), torch.Size([4, 3, 56, 56]), 'red-plain-fan')
"""
from __future__ import annotations

import itertools
import zipfile
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import torch

from whynot.utils import atomic_path, cache_dir

VERSION = 2  # part of every image's seed and of the cache key: bump it whenever rendering changes

PART_NAMES: tuple[str, ...] = ("head", "wing", "tail")
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "head": ("red", "orange", "yellow"),
    "wing": ("plain", "barred", "spotted"),
    "tail": ("fan", "forked", "pointed"),
}
CLASS_ATTRIBUTES: tuple[tuple[int, ...], ...] = tuple(
    itertools.product(*(range(len(ATTRIBUTE_VALUES[p])) for p in PART_NAMES))
)
CLASS_NAMES: tuple[str, ...] = tuple(
    "-".join(ATTRIBUTE_VALUES[p][v] for p, v in zip(PART_NAMES, attrs)) for attrs in CLASS_ATTRIBUTES
)
SPLITS: dict[str, int] = {"train": 200, "test": 40}  # images per class
_SPLIT_CODES = {"train": 0, "test": 1}  # part of the per-image seed: splits never share images
MIN_SIZE = 32
_SUPERSAMPLE = 2  # render at twice the size, then average (anti-aliasing)

# Head colours are deliberately close in hue (red / orange / yellow), so that colour jitter and
# lighting make some heads ambiguous.
_HEAD_RGB = np.array([[0.80, 0.16, 0.12], [0.90, 0.46, 0.10], [0.88, 0.74, 0.16]])
_BODY_RGB = np.array([[0.45, 0.33, 0.22], [0.50, 0.50, 0.48], [0.38, 0.40, 0.26], [0.33, 0.38, 0.48],
                      [0.62, 0.55, 0.42]])
_BACKGROUND_RGB = np.array([[0.55, 0.70, 0.85], [0.35, 0.55, 0.30], [0.75, 0.70, 0.55], [0.60, 0.62, 0.60]])
_FOLIAGE_RGB = np.array([[0.20, 0.45, 0.18], [0.35, 0.60, 0.25], [0.45, 0.35, 0.20], [0.55, 0.55, 0.30],
                         [0.25, 0.35, 0.30]])
_BRANCH_RGB = np.array([0.36, 0.26, 0.16])
_BEAK_RGB = np.array([0.25, 0.22, 0.20])
# Label-map codes while rendering: 0 background, parts 1..P in PART_NAMES order, then the body.
_HEAD_CODE, _WING_CODE, _TAIL_CODE = (PART_NAMES.index(p) + 1 for p in ("head", "wing", "tail"))
_BODY_CODE = len(PART_NAMES) + 1


@dataclass
class SynthBirds:
    """A split (or subset) of SynthBirds; all tensors on the CPU.

    >>> data = load_synthbirds("test", n=27)
    >>> len(data.subset(slice(0, 5))), int(data.part_masks[0, PART_NAMES.index("head")].sum()) > 0
    (5, True)
    """

    images: torch.Tensor  # float32 [N, 3, S, S] in [0, 1]
    labels: torch.Tensor  # int64 [N]
    part_masks: torch.Tensor  # bool [N, P, S, S]: visible pixels of each part (disjoint)
    attributes: torch.Tensor  # int64 [N, P]: value index of each part, CLASS_ATTRIBUTES[label]
    bird_masks: torch.Tensor  # bool [N, S, S]: visible bird pixels (parts and body)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> "SynthBirds":
        """Images ``idx`` (an int, slice, index list/tensor or boolean mask), as a new SynthBirds."""
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]  # keep the batch dimension
        if not isinstance(idx, slice):
            idx = torch.as_tensor(idx)
            if idx.dtype != torch.bool:
                idx = idx.long()
        return SynthBirds(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def class_attributes(label: int) -> dict[str, str]:
    """The part attributes of class ``label``, e.g. ``{'head': 'red', 'wing': 'plain', 'tail': 'fan'}``."""
    _check_label(label)
    return {p: ATTRIBUTE_VALUES[p][v] for p, v in zip(PART_NAMES, CLASS_ATTRIBUTES[label])}


def confusable_pairs() -> list[tuple[int, int, str]]:
    """All class pairs ``(a, b, part)`` with ``a < b`` that differ in exactly the one ``part``.

    >>> confusable_pairs()[0]
    (0, 1, 'tail')
    >>> len(confusable_pairs())  # 27 classes x 3 parts x 2 other values / 2
    81
    """
    pairs = []
    for a, b in itertools.combinations(range(len(CLASS_NAMES)), 2):
        differ = [p for p, va, vb in zip(PART_NAMES, CLASS_ATTRIBUTES[a], CLASS_ATTRIBUTES[b]) if va != vb]
        if len(differ) == 1:
            pairs.append((a, b, differ[0]))
    return pairs


def split_size(split: str) -> int:
    """Number of images in ``split`` (``SPLITS[split]`` per class)."""
    _check_split(split)
    return SPLITS[split] * len(CLASS_NAMES)


def split_labels(split: str) -> np.ndarray:
    """Class of every image of ``split``: image ``i`` has class ``i % 27``, so any prefix is balanced.

    >>> split_labels("test")[:4].tolist()
    [0, 1, 2, 3]
    """
    return np.arange(split_size(split), dtype=np.int64) % len(CLASS_NAMES)


def load_synthbirds(split: str = "test", seed: int = 0, n: int | None = None, size: int = 56) -> SynthBirds:
    """Load (generating and caching on first use) a SynthBirds split.

    ``n`` keeps the first ``n`` images, which are class-balanced (image ``i`` has class ``i % 27``).
    A small ``n`` with no cached split is rendered directly; the bytes are the same either way.

    >>> load_synthbirds("train", n=54).labels.bincount().tolist() == [2] * 27
    True
    """
    total = split_size(split)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < MIN_SIZE:
        raise ValueError(f"size must be an int >= {MIN_SIZE} (56 recommended), got {size!r}")
    if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 0 < n <= total):
        raise ValueError(f"n must be an int in [1, {total}] for the {split!r} split (or None for all), got {n!r}")
    count = total if n is None else int(n)
    path = _cache_path(split, seed, size)
    arrays = _read_cache(path, size) if path.exists() else None
    if arrays is None:
        if count * 4 <= total:  # a small sample: cheaper to render than to build the whole cache
            return _to_dataset(render_images(split, seed, range(count), size))
        arrays = render_images(split, seed, range(total), size)
        _write_cache(path, arrays)
    return _to_dataset({k: v[:count] for k, v in arrays.items()})


@lru_cache(maxsize=8)
def channel_stats(seed: int = 0, size: int = 56) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the train split, for the models' ``Normalize``."""
    images = load_synthbirds("train", seed=seed, size=size).images
    mean = images.mean(dim=(0, 2, 3), dtype=torch.float64)
    std = images.double().std(dim=(0, 2, 3))
    return tuple(round(float(m), 6) for m in mean), tuple(round(float(s), 6) for s in std)


def render_images(split: str, seed: int, indices, size: int = 56) -> dict[str, np.ndarray]:
    """Render images ``indices`` of ``split`` as numpy arrays (what the cache stores).

    Keys: ``images`` uint8 [N,3,S,S], ``labels`` int64 [N], ``part_masks`` bool [N,P,S,S],
    ``bird_masks`` bool [N,S,S].
    """
    all_labels = split_labels(split)
    indices = [int(i) for i in indices]
    if any(not 0 <= i < len(all_labels) for i in indices):
        raise ValueError(f"image indices of the {split!r} split must lie in [0, {len(all_labels)})")
    grid = _pixel_grid(size * _SUPERSAMPLE)
    images = np.empty((len(indices), 3, size, size), np.uint8)
    label_maps = np.empty((len(indices),) + grid[0].shape, np.int8)
    labels = all_labels[indices]
    for row, (index, label) in enumerate(zip(indices, labels)):
        rng = np.random.default_rng([seed, _SPLIT_CODES[split], index, VERSION])
        image, label_maps[row] = _render(rng, CLASS_ATTRIBUTES[label], grid)
        images[row] = _quantise(image)
    # A pixel belongs to a part when most of its sub-pixels do, so parts are disjoint.
    codes = np.arange(1, len(PART_NAMES) + 1, dtype=np.int8)[:, None, None]
    part_masks = np.stack([_downsample(m == codes) > 0.5 for m in label_maps]) if len(indices) else (
        np.zeros((0, len(PART_NAMES), size, size), bool))
    bird_masks = _downsample(label_maps > 0) > 0.5
    return {"images": images, "labels": labels, "part_masks": part_masks, "bird_masks": bird_masks}


# ----------------------------------------------------------------------------------------------
# Rasterisation. Coordinates are fractions of the image side, so any size renders the same scene.
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pose:
    centre: np.ndarray  # (x, y), image fractions
    scale: float  # image fraction per bird unit (the body is one unit long)
    forward: np.ndarray  # unit vector from tail to head
    up: np.ndarray  # unit vector from belly to back

    def local(self, grid: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Bird coordinates (u forward, v up, in body lengths) of every pixel."""
        dx, dy = grid[0] - self.centre[0], grid[1] - self.centre[1]
        return ((dx * self.forward[0] + dy * self.forward[1]) / self.scale,
                (dx * self.up[0] + dy * self.up[1]) / self.scale)

    def to_image(self, u: float, v: float) -> np.ndarray:
        return self.centre + self.scale * (u * self.forward + v * self.up)


# Bird geometry in body units: body ellipse at the origin, head ahead and above, tail behind.
_BODY_AXES = (0.5, 0.27)
_HEAD_CENTRE, _HEAD_RADIUS = (0.46, 0.2), 0.19
_WING_CENTRE, _WING_AXES = (-0.06, 0.06), (0.36, 0.15)
_TAIL_ROOT = -0.38
_PART_ANCHORS = (_HEAD_CENTRE, _WING_CENTRE, (-0.7, 0.0), (0.0, 0.0))  # head, wing, tail, body: occluder targets


@lru_cache(maxsize=4)
def _pixel_grid(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    centres = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    return np.meshgrid(centres, centres)  # x varies along columns, y along rows


def _render(rng: np.random.Generator, attrs: tuple[int, ...], grid) -> tuple[np.ndarray, np.ndarray]:
    """One image (float [3,S,S]) and its supersampled label map (int8 [2S,2S]: 0 background,
    1..P the parts, P+1 the body)."""
    image = np.empty((3,) + grid[0].shape, np.float32)
    labels = np.zeros(grid[0].shape, np.int8)
    _background(rng, image, grid)
    pose = _random_pose(rng)
    _bird(rng, attrs, pose, image, labels, grid)
    _occluders(rng, pose, image, labels, grid)
    image = _downsample(image)
    # Photometric nuisance: lighting (brightness and white balance) and sensor noise.
    image *= (rng.uniform(0.8, 1.2) * rng.uniform(0.93, 1.07, size=3)).astype(np.float32)[:, None, None]
    image += rng.normal(0.0, rng.uniform(0.01, 0.05), size=image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0), labels


def _background(rng, image, grid) -> None:
    y = grid[1]
    base = _jitter(rng, _BACKGROUND_RGB[rng.integers(len(_BACKGROUND_RGB))], 0.05)
    image[:] = base[:, None, None] * (1.0 + rng.uniform(-0.4, 0.4) * (y - 0.5))
    for _ in range(rng.integers(4, 11)):  # leaves; a quarter of them in a head colour (distractors)
        palette = _HEAD_RGB if rng.random() < 0.25 else _FOLIAGE_RGB
        colour = _jitter(rng, palette[rng.integers(len(palette))], 0.05)
        a = rng.uniform(0.04, 0.16)
        _fill(image, _ellipse(grid, rng.uniform(0, 1, 2), a, a * rng.uniform(0.3, 1.0), rng.uniform(0, np.pi)), colour)
    for _ in range(rng.integers(0, 3)):  # branches across the picture
        twig = _segment(grid, rng.uniform(0, 1, 2), rng.uniform(0, 1, 2), rng.uniform(0.015, 0.04))
        _fill(image, twig, _jitter(rng, _BRANCH_RGB, 0.05))


def _random_pose(rng) -> _Pose:
    angle = rng.uniform(-np.radians(35), np.radians(35))
    facing = rng.choice([-1.0, 1.0])
    forward = np.array([facing * np.cos(angle), np.sin(angle)])
    up = facing * np.array([forward[1], -forward[0]])  # image y points down
    return _Pose(rng.uniform(0.38, 0.62, 2), rng.uniform(0.34, 0.46), forward, up)


def _bird(rng, attrs, pose: _Pose, image, labels, grid) -> None:
    head, wing, tail = attrs
    u, v = pose.local(grid)
    body_colour = _jitter(rng, _BODY_RGB[rng.integers(len(_BODY_RGB))], 0.04)
    _paint(image, labels, _tail(u, v, tail), body_colour * 0.8, _TAIL_CODE)
    body = (u / _BODY_AXES[0]) ** 2 + (v / _BODY_AXES[1]) ** 2 <= 1
    _paint(image, labels, body, body_colour, _BODY_CODE)
    _paint(image, labels, body & (v < -0.08), np.minimum(body_colour * 1.25, 1.0), _BODY_CODE)  # belly
    _wing(rng, wing, u, v, body_colour, image, labels)
    head_mask = (u - _HEAD_CENTRE[0]) ** 2 + (v - _HEAD_CENTRE[1]) ** 2 <= _HEAD_RADIUS**2
    beak_tip = _HEAD_CENTRE[0] + _HEAD_RADIUS + 0.16
    beak = (u >= _HEAD_CENTRE[0]) & (u <= beak_tip) & (
        np.abs(v - _HEAD_CENTRE[1] + 0.02) <= 0.3 * (beak_tip - u))
    _paint(image, labels, head_mask, _jitter(rng, _HEAD_RGB[head], 0.035), _HEAD_CODE)
    _paint(image, labels, beak & ~head_mask, _BEAK_RGB, _HEAD_CODE)
    eye = (u - _HEAD_CENTRE[0] - 0.06) ** 2 + (v - _HEAD_CENTRE[1] - 0.05) ** 2 <= 0.045**2
    _paint(image, labels, eye, np.float32([0.05, 0.05, 0.05]), _HEAD_CODE)


def _tail(u, v, shape: int) -> np.ndarray:
    """Tail ``ATTRIBUTE_VALUES['tail'][shape]`` behind the body: fan, forked or pointed."""
    t, w = _TAIL_ROOT - u, np.abs(v)  # distance behind the root, distance from the axis
    if shape == 0:  # fan: a wide wedge with a round end
        return (t > 0) & (t**2 + v**2 <= 0.5**2) & (w <= 0.07 + 0.9 * t)
    if shape == 1:  # forked: a wedge with a V notch cut out of its end
        return (t > 0) & (t <= 0.62) & (w <= 0.06 + 0.45 * t) & ~(w < 0.5 * (t - 0.28))
    return (t > 0) & (w <= 0.11 * (1 - t / 0.72))  # pointed: a long thin spike


def _wing(rng, pattern: int, u, v, body_colour, image, labels) -> None:
    tilt = rng.uniform(0.0, 0.25)  # rear of the wing raised a little
    du, dv = u - _WING_CENTRE[0], v - _WING_CENTRE[1]
    wu, wv = du * np.cos(tilt) - dv * np.sin(tilt), du * np.sin(tilt) + dv * np.cos(tilt)
    wing = (wu / _WING_AXES[0]) ** 2 + (wv / _WING_AXES[1]) ** 2 <= 1
    base = body_colour * rng.uniform(0.7, 0.9)
    _paint(image, labels, wing, base, _WING_CODE)
    if pattern == 0:  # plain
        return
    if rng.random() < 0.5:  # dark or light markings
        marks = base * rng.uniform(0.3, 0.55)
    else:
        marks = base + (1 - base) * rng.uniform(0.5, 0.8)
    if pattern == 1:  # barred: bands across the wing
        period = 0.16
        bands = np.mod(wu + rng.uniform(0, period), period) < 0.45 * period
    else:  # spotted: a staggered grid of dots
        spacing = 0.14
        row = np.floor((wv + rng.uniform(0, spacing)) / spacing)
        su = np.mod(wu + 0.5 * spacing * row + rng.uniform(0, spacing), spacing) - spacing / 2
        sv = np.mod(wv + rng.uniform(0, spacing), spacing) - spacing / 2
        bands = su**2 + sv**2 <= 0.048**2
    _fill(image, wing & bands, marks)


def _occluders(rng, pose: _Pose, image, labels, grid) -> None:
    """With probability 0.35, a leaf or twig in front of a random part of the bird."""
    if rng.random() >= 0.35:
        return
    anchor = pose.to_image(*_PART_ANCHORS[rng.integers(len(_PART_ANCHORS))]) + rng.normal(0, 0.04, 2)
    if rng.random() < 0.6:
        a = rng.uniform(0.05, 0.11)
        mask = _ellipse(grid, anchor, a, a * rng.uniform(0.4, 0.8), rng.uniform(0, np.pi))
        colour = _jitter(rng, _FOLIAGE_RGB[rng.integers(len(_FOLIAGE_RGB))], 0.05)
    else:
        direction = rng.normal(size=2)
        direction *= rng.uniform(0.15, 0.3) / np.linalg.norm(direction)
        mask = _segment(grid, anchor - direction, anchor + direction, rng.uniform(0.02, 0.04))
        colour = _jitter(rng, _BRANCH_RGB, 0.05)
    _paint(image, labels, mask, colour, 0)


def _paint(image, labels, mask, colour, code: int) -> None:
    _fill(image, mask, colour)
    labels[mask] = code


def _fill(image, mask, colour) -> None:
    np.copyto(image, np.asarray(colour, np.float32)[:, None, None], where=mask)


def _ellipse(grid, centre, a: float, b: float, angle: float) -> np.ndarray:
    rows, cols = _window(grid, centre, max(a, b))
    dx, dy = grid[0][rows, cols] - centre[0], grid[1][rows, cols] - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    mask = np.zeros(grid[0].shape, bool)
    mask[rows, cols] = ((dx * c + dy * s) / a) ** 2 + ((dy * c - dx * s) / b) ** 2 <= 1
    return mask


def _segment(grid, start, end, width: float) -> np.ndarray:
    """Pixels within ``width / 2`` of the segment ``start``-``end``."""
    d = end - start
    rows, cols = _window(grid, (start + end) / 2, np.sqrt(d @ d) / 2 + width / 2)
    px, py = grid[0][rows, cols] - start[0], grid[1][rows, cols] - start[1]
    t = np.clip((px * d[0] + py * d[1]) / max(float(d @ d), 1e-12), 0, 1)
    mask = np.zeros(grid[0].shape, bool)
    mask[rows, cols] = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 <= (width / 2) ** 2
    return mask


def _window(grid, centre, radius: float) -> tuple[slice, slice]:
    """The square of pixels within ``radius`` (image fractions) of ``centre``: small shapes are only
    evaluated there, which is most of the generator's speed."""
    resolution = grid[0].shape[0]

    def span(c):
        return slice(max(int((c - radius) * resolution), 0), max(int(np.ceil((c + radius) * resolution)), 0))

    return span(centre[1]), span(centre[0])


def _jitter(rng, colour, sigma: float) -> np.ndarray:
    return np.clip(colour + rng.normal(0, sigma, 3), 0, 1).astype(np.float32)


def _downsample(array: np.ndarray) -> np.ndarray:
    """Average 2 x 2 blocks of the last two axes ([..., 2S, 2S] -> [..., S, S]), as float32."""
    array = array.astype(np.float32, copy=False)
    return 0.25 * (array[..., 0::2, 0::2] + array[..., 1::2, 0::2] + array[..., 0::2, 1::2] + array[..., 1::2, 1::2])


def _quantise(image: np.ndarray) -> np.ndarray:
    return np.round(image * 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Cache and validation
# ----------------------------------------------------------------------------------------------
def _cache_path(split: str, seed: int, size: int):
    return cache_dir("synthbirds") / f"synthbirds-v{VERSION}-{split}-seed{seed}-size{size}.npz"


_MASK_KEYS = ("part_masks", "bird_masks")


def _write_cache(path, arrays: dict[str, np.ndarray]) -> None:
    packed = {k: np.packbits(v, axis=-1) if k in _MASK_KEYS else v for k, v in arrays.items()}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **packed)


def _read_cache(path, size: int) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if the file is unreadable (it is then rebuilt)."""
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("images", "labels", *_MASK_KEYS)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    for k in _MASK_KEYS:
        arrays[k] = np.unpackbits(arrays[k], axis=-1, count=size).astype(bool)
    return arrays


def _to_dataset(arrays: dict[str, np.ndarray]) -> SynthBirds:
    labels = torch.from_numpy(np.ascontiguousarray(arrays["labels"])).long()
    return SynthBirds(
        images=torch.from_numpy(arrays["images"]).float().div_(255),
        labels=labels,
        part_masks=torch.from_numpy(np.ascontiguousarray(arrays["part_masks"])),
        attributes=torch.tensor(CLASS_ATTRIBUTES, dtype=torch.int64)[labels],
        bird_masks=torch.from_numpy(np.ascontiguousarray(arrays["bird_masks"])),
    )


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown SynthBirds split {split!r}; choose one of {sorted(SPLITS)}")


def _check_label(label: int) -> None:
    if not 0 <= int(label) < len(CLASS_NAMES):
        raise ValueError(f"class label {label!r} out of range; SynthBirds labels are 0..{len(CLASS_NAMES) - 1}")
