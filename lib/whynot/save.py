"""Save an explanation to a folder, all at once or not at all.

For every image ``b``, contrast and target class (rank ``k``) the folder gets the overlay (PNG,
the book's ``bwr`` colour map centred at zero, :func:`whynot.viz.overlay_array`) and the raw map
(``.npy``, float32, as explained: signed, at the resolution ``explain`` returned), plus one
``manifest.json``: the model, method, layer, contrast, every map's class, class name and
probability and its two files, and the library's version. The folder is written as a hidden
temporary folder beside it and renamed into place at the end, so a crash or a bad input
never leaves a half-written result.

>>> ex = whynot.explain(model, images, topk=2, contrast=("logit", "weighted"),
...                     return_explanation=True)
>>> ex.save("out/cats", images, model="efficientnet_lite0")     # doctest: +SKIP
PosixPath('out/cats')

``out/cats/manifest.json``, ``out/cats/image000_weighted_top1_tabby.png``, ... ``.npy``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from whynot.utils import _umask

MANIFEST = "manifest.json"


def save_explanation(
    explanation,
    folder: str | os.PathLike,
    images: Tensor,
    model: str | nn.Module | None = None,
    image_names: Sequence[str] | None = None,
    alpha: float = 0.5,
    overwrite: bool = False,
) -> Path:
    """Write ``explanation``'s maps for ``images [B, 3, H, W]`` to ``folder``; return its path.

    ``model``: the name recorded in the manifest, or the model itself (its
    ``whynot_meta`` gives the name and class names, and where the explanation carries no
    probabilities one forward pass gives them); ``image_names``: one per image, used in the
    file names (default ``image000``, ...); ``overwrite``: replace an existing non-empty folder
    (atomically too: the old one is removed only once the new one is in place).
    """
    from whynot import __version__
    from whynot.viz import overlay_array

    folder = Path(folder)
    maps = explanation.maps if isinstance(explanation.maps, dict) else {
        _contrast_label(explanation.contrast): explanation.maps}
    classes = explanation.classes.detach().cpu()
    batch, targets = classes.shape
    _check(maps, images, batch, image_names)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not overwrite:
        raise FileExistsError(
            f"{folder} exists and is not empty; choose another folder or pass overwrite=True "
            "(--overwrite on the command line)."
        )
    default_names = [f"image{b:03d}" for b in range(batch)]
    names = list(image_names) if image_names is not None else default_names
    stems = _unique([_slug(name) for name in names])
    model_name, class_names, probabilities = _model_facts(explanation, model, images)
    records = []
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        for b in range(batch):
            for k in range(targets):
                index = int(classes[b, k])
                name = class_names[index] if class_names is not None else None
                for contrast, values in maps.items():
                    label = _slug(name or f"class{index}")
                    stem = f"{stems[b]}_{_slug(contrast)}_top{k + 1}_{label}"
                    heatmap = values[b, k].detach().float().cpu()
                    np.save(staging / f"{stem}.npy", heatmap.numpy())
                    picture = overlay_array(images[b].detach().cpu(), heatmap, alpha)
                    _write_png(staging / f"{stem}.png", picture)
                    records.append(dict(
                        image=names[b], image_index=b, rank=k + 1, contrast=contrast,
                        class_index=index, class_name=name,
                        probability=None if probabilities is None
                        else float(probabilities[b, index]),
                        overlay=f"{stem}.png", map=f"{stem}.npy",
                    ))
        manifest = dict(
            whynot_version=__version__, model=model_name, method=explanation.method,
            layer=explanation.layer,
            contrast=_json_contrast(explanation.contrast), contrasts=list(maps),
            images=names, classes=classes.tolist(),
            class_names=None if class_names is None
            else [[class_names[int(c)] for c in row] for row in classes],
            probabilities=None if probabilities is None
            else probabilities.detach().cpu().gather(1, classes).tolist(),
            foil=None if explanation.foil is None else explanation.foil.detach().cpu().tolist(),
            backward_passes=explanation.backward_passes, maps=records,
        )
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; give the mode mkdir would
        _move_into_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _check(maps: dict, images: Tensor, batch: int, image_names) -> None:
    if images.dim() != 4 or images.shape[0] != batch or images.shape[1] != 3:
        raise ValueError(
            f"images must be the [B, 3, H, W] batch that was explained (B = {batch}); got "
            f"{tuple(images.shape)}."
        )
    for contrast, values in maps.items():
        if values.dim() != 4:
            raise ValueError(
                f"the {contrast} maps are {tuple(values.shape)}; save needs [B, K, H, W] maps "
                "(explain without keep_channels=True)."
            )
    if image_names is not None and len(image_names) != batch:
        raise ValueError(f"image_names needs one name per image ({batch}); got {len(image_names)}.")


def _model_facts(explanation, model, images: Tensor):
    """``(model name, class names, probabilities [B, C])`` from the explanation, else the model."""
    class_names, probabilities = explanation.class_names, explanation.probabilities
    if not isinstance(model, nn.Module):
        return model, class_names, probabilities
    meta = getattr(model, "whynot_meta", {})
    if class_names is None and meta.get("class_names") is not None:
        class_names = tuple(meta["class_names"])
    if probabilities is None:
        with torch.no_grad():
            probabilities = model(images).softmax(dim=1)
    return meta.get("name", type(model).__name__), class_names, probabilities


def _move_into_place(staging: Path, folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    if not folder.exists():
        os.rename(staging, folder)
        return
    old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
    old.rmdir()
    os.rename(folder, old)  # two renames: the old folder stays whole until the new one is in place
    os.rename(staging, folder)
    if old.is_dir():
        shutil.rmtree(old)
    else:
        old.unlink()


def _write_png(path: Path, picture: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(picture).save(path, format="PNG")


def _contrast_label(contrast) -> str:
    if isinstance(contrast, str):
        return contrast
    return "custom" if isinstance(contrast, Tensor) or contrast is None else str(contrast)


def _json_contrast(contrast):
    if isinstance(contrast, Tensor):
        return "custom"
    return list(contrast) if isinstance(contrast, (tuple, list)) else contrast


def _slug(text: str) -> str:
    """A file-name-safe form: letters, digits, ``-``, ``+`` and ``.``; other runs become ``_``."""
    return re.sub(r"[^A-Za-z0-9+.-]+", "_", str(text)).strip("_") or "x"


def _unique(stems: list[str]) -> list[str]:
    """Number repeated stems (two ``cat.jpg`` in different folders) so no file is overwritten."""
    seen: dict[str, int] = {}
    unique = []
    for stem in stems:
        seen[stem] = seen.get(stem, 0) + 1
        unique.append(stem if stems.count(stem) == 1 else f"{stem}-{seen[stem]}")
    return unique


def load_map(folder: str | os.PathLike, entry: dict) -> torch.Tensor:
    """The raw map of one manifest entry, as a tensor: ``load_map(folder, manifest["maps"][0])``."""
    return torch.from_numpy(np.load(Path(folder) / entry["map"]))
