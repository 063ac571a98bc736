"""CUB-200-2011 (Caltech-UCSD Birds, 200 species, 11,788 images): download, verify, parse.

Layout after extraction (the authors' code reads the same files)::

    ROOT/CUB_200_2011/images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg
    ROOT/CUB_200_2011/{images.txt, classes.txt, image_class_labels.txt, train_test_split.txt,
                       bounding_boxes.txt, parts/parts.txt, parts/part_locs.txt}

Ids in the files are 1-based; labels here are 0-based; split flag 1 = train (5994 train,
5794 test). Images come through the authors' test transform ``Resize((size, size))`` as
[3, size, size] in [0, 1]; :meth:`CUB200.annotations` scales the bounding box and the part
locations to that resized image.

>>> download_cub("~/data")                       # doctest: +SKIP
>>> test = CUB200("~/data", split="test")        # doctest: +SKIP
>>> image, label = test[0]; test.class_names[label]   # doctest: +SKIP
'Black footed Albatross'
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import v2

from whynot.data.imagenet import check_image_size
from whynot.utils import progress

CUB_URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1"
CUB_MD5 = "97eceeb196236b17998738112f37df78"  # of the official CUB_200_2011.tgz (1.1 GB)
CUB_FOLDER = "CUB_200_2011"
SPLITS = ("train", "test")
_CHUNK = 1 << 20


def _missing_message(root: Path) -> str:
    return (f"CUB-200-2011 not found: expected {root / CUB_FOLDER / 'images.txt'}. Download "
            f"CUB_200_2011.tgz (1.1 GB) from {CUB_URL.split('?')[0]} and extract it in {root}, or run "
            f"`whynot.data.cub.download_cub({str(root)!r})`, which downloads, verifies and extracts it.")


def cub_test_transform(size: int = 224) -> v2.Compose:
    """The authors' test transform: ``Resize((size, size))`` (aspect not kept), to [0, 1]."""
    size = check_image_size(size)
    return v2.Compose([v2.Resize((size, size), antialias=True), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def cub_train_transform(size: int = 224) -> v2.Compose:
    """The authors' training augmentation (YW ``dataset.py``), to [0, 1] without normalisation.

    Flips (horizontal and vertical), rotation 30, colour jitter, translation 0.1, random resized
    crop (scale 0.7-1), perspective 0.2 (p = 0.5), greyscale (p = 0.2), Gaussian blur (p = 0.2).
    """
    size = check_image_size(size)
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        v2.RandomRotation(30),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
        v2.RandomAffine(degrees=0, translate=(0.1, 0.1)),
        v2.RandomResizedCrop(size, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3),
                             interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
        v2.RandomPerspective(distortion_scale=0.2, p=0.5, interpolation=v2.InterpolationMode.BICUBIC, fill=0),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, 2.0))], p=0.2),
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
    ])


def fetch(url: str, destination: Path, hint: str = "Download CUB_200_2011.tgz by hand and extract it into "
          "the data root instead.") -> str:
    """Stream ``url`` into ``destination``; return the MD5 of the bytes. ``hint`` ends the error
    message of a failed download (what to do by hand)."""
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url) as response, open(destination, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress(None, total=total, unit="B", unit_scale=True, desc=destination.name) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise ConnectionError(f"could not download {url} ({error}). {hint}") from error
    return digest.hexdigest()


def download_cub(root: str | os.PathLike, url: str = CUB_URL, md5: str = CUB_MD5) -> Path:
    """Download, verify (MD5) and extract CUB-200-2011 into ``root``; return ``root/CUB_200_2011``.

    Atomic: the archive and the extraction live in a temporary folder inside ``root`` and the
    dataset folder is moved into place only after the checksum and the layout check pass, so a
    failure leaves nothing behind. Does nothing if the dataset is already there.

    >>> download_cub("~/data")          # doctest: +SKIP
    PosixPath('/home/me/data/CUB_200_2011')
    """
    root = Path(root).expanduser()
    target = root / CUB_FOLDER
    if (target / "images.txt").is_file():
        return target
    if target.exists():
        raise FileExistsError(f"{target} exists but has no images.txt (an incomplete copy?); move it away "
                              "or delete it, then call download_cub again")
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=root, prefix=".cub-download-") as scratch:
            archive = Path(scratch) / "CUB_200_2011.tgz"
            actual = fetch(url, archive)
            if actual != md5:
                raise ValueError(f"checksum mismatch for {url}: MD5 {actual}, expected {md5}. The download is "
                                 "corrupt or the URL serves another file; nothing was kept. Try again, or pass "
                                 "url= pointing at the official CUB_200_2011.tgz.")
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")
            extracted = Path(scratch) / CUB_FOLDER
            if not (extracted / "images.txt").is_file():
                raise ValueError(f"{url} passed the checksum but holds no {CUB_FOLDER}/images.txt; "
                                 "it is not the CUB-200-2011 archive")
            os.replace(extracted, target)
    except BaseException:
        if created_root and not any(root.iterdir()):
            root.rmdir()
        raise
    return target


def _read_table(path: Path, columns: int) -> dict[int, list[str]]:
    """``id v1 v2 ...`` lines -> {id: [v1, ...]}; the last column may contain spaces."""
    rows = {}
    for line in path.read_text().splitlines():
        if line.strip():
            fields = line.split(maxsplit=columns - 1)
            rows[int(fields[0])] = fields[1:]
    return rows


def _readable_class_name(folder_name: str) -> str:
    """``001.Black_footed_Albatross`` -> ``Black footed Albatross``."""
    return folder_name.split(".", 1)[-1].replace("_", " ")


class CUB200(torch.utils.data.Dataset):
    """One split of CUB-200-2011; items are ``(image [3, size, size] in [0, 1], label 0..199)``.

    ``root`` is the folder that contains ``CUB_200_2011`` (or that folder itself).
    ``transform`` replaces the test transform (e.g. :func:`cub_train_transform`); it takes a PIL
    image and must return a tensor.

    Attributes: ``class_names``, ``part_names``, ``paths``, ``labels`` [N] (0-based),
    ``boxes`` [N, 4] (x, y, width, height) and ``part_locations`` [N, parts, 3] (x, y, visible)
    in original pixels, ``image_ids`` (1-based, as in the files).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", size: int = 224, transform=None):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        root = Path(root).expanduser()
        folder = root if (root / "images.txt").is_file() else root / CUB_FOLDER
        if not (folder / "images.txt").is_file():
            raise FileNotFoundError(_missing_message(root))
        self.folder, self.split, self.size = folder, split, check_image_size(size)
        self.transform = transform if transform is not None else cub_test_transform(size)

        images = _read_table(folder / "images.txt", 2)
        labels = _read_table(folder / "image_class_labels.txt", 2)
        is_train = _read_table(folder / "train_test_split.txt", 2)
        boxes = _read_table(folder / "bounding_boxes.txt", 5)
        classes = _read_table(folder / "classes.txt", 2)
        parts = _read_table(folder / "parts" / "parts.txt", 2)
        locations: dict[int, dict[int, list[float]]] = {}
        for line in (folder / "parts" / "part_locs.txt").read_text().split("\n"):
            if line.strip():
                image_id, part_id, x, y, visible = line.split()
                locations.setdefault(int(image_id), {})[int(part_id)] = [float(x), float(y), float(visible)]

        wanted = 1 if split == "train" else 0
        self.image_ids = [i for i in sorted(images) if int(is_train[i][0]) == wanted]
        self.class_names = tuple(_readable_class_name(classes[c][0]) for c in sorted(classes))
        self.part_names = tuple(parts[p][0] for p in sorted(parts))
        self.paths = [folder / "images" / images[i][0] for i in self.image_ids]
        self.labels = torch.tensor([int(labels[i][0]) - 1 for i in self.image_ids])
        self.boxes = torch.tensor([[float(v) for v in boxes[i]] for i in self.image_ids]).reshape(-1, 4)
        self.part_locations = torch.tensor(
            [[locations[i][p] for p in sorted(parts)] for i in self.image_ids]
        ).reshape(len(self.image_ids), len(parts), 3)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), int(self.labels[index])

    def annotations(self, index: int) -> dict[str, torch.Tensor]:
        """Box (x0, y0, x1, y1) and parts (x, y, visible) in the coordinates of the resized image.

        Valid for the default (test) transform; invisible parts keep x = y = 0.
        """
        with Image.open(self.paths[index]) as image:
            width, height = image.size
        scale = torch.tensor([self.size / width, self.size / height])
        x, y, box_width, box_height = self.boxes[index].tolist()
        corners = torch.tensor([[x, y], [x + box_width, y + box_height]]) * scale
        parts = self.part_locations[index].clone()
        parts[:, :2] *= scale
        return {"box": corners.flatten(), "parts": parts}
