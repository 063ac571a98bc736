"""Explain images from the command line and save the maps (:func:`whynot.save.save_explanation`)::

    python -m whynot explain cat.jpg dog.png --model efficientnet_lite0 --method gradcam \\
        --contrast weighted --topk 2 --out results/
    python -m whynot explain photos/ --model mypkg.models:build --contrast logit,weighted
    python -m whynot explain cat.jpg --model efficientnet_lite0 --contrast foil \\
        --classes "tabby, tabby cat" --foil "tiger cat"

IMAGES are files or folders of images (JPEG, PNG, ...; a folder's images in name order). MODEL
is a name of :func:`whynot.models.zoo.load_model` (``synth_*``, ``efficientnet_lite0/1/2``,
torchvision names) or ``module:attr``, a model or a function returning one that takes
``[B, 3, H, W]`` images in [0, 1] and returns logits. Images are resized and centre-cropped to
the model's ``whynot_meta["input_size"]`` (else ``--size``). ``--out`` receives one PNG overlay
and one ``.npy`` map per image, target class and contrast, and ``manifest.json``, written all at
once: a bad input ends with a one-line error (exit code 2) and leaves ``--out`` untouched.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import torch
from torch import nn

from whynot.models.common import CheckpointError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DEFAULT_OUT = "whynot-explanations"


class UsageError(ValueError):
    """A bad command-line input; its message names the fix."""


def _parser() -> argparse.ArgumentParser:
    from whynot.explainers import METHODS
    from whynot.targets import CONTRASTS

    parser = argparse.ArgumentParser(prog="python -m whynot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser("explain", help="explain images and save the maps",
                                  description="explain images; save overlays, maps, a manifest")
    explain.add_argument("images", nargs="+", metavar="IMAGES", help="image files or folders")
    explain.add_argument("--model", required=True, metavar="NAME|module:attr",
                         help="a whynot.models.zoo name or module:attr (a model or a function)")
    explain.add_argument("--method", default="gradcam", help=f"one of {', '.join(METHODS)}")
    explain.add_argument("--contrast", default="logit", metavar="C[,C...]",
                         help=f"{', '.join(CONTRASTS)} or foil (with --foil); several with commas")
    explain.add_argument("--topk", type=int, metavar="K",
                         help="explain the K top classes (default 1)")
    explain.add_argument("--classes", metavar="NAME|INDEX[;...]",
                         help="explain these classes instead of the top ones (separate with ';')")
    explain.add_argument("--foil", metavar="NAME|INDEX[;...]",
                         help="the foil class(es) of --contrast foil: why the target, not these?")
    explain.add_argument("--layer", metavar="L", help="CAM layer (a module name of the model)")
    explain.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                         help=f"output folder (default {DEFAULT_OUT}); must be new or empty")
    explain.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    explain.add_argument("--device", default="cpu", metavar="D", help="torch device (default cpu)")
    explain.add_argument("--size", type=int, default=224, metavar="PX",
                         help="image side without whynot_meta['input_size'] (default 224)")
    explain.add_argument("--batch-size", type=int, default=8, metavar="N",
                         help="images per engine call (default 8)")
    return parser


def image_files(paths: list[str]) -> list[Path]:
    """The image files named, a folder standing for its images (name order, not recursive)."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UsageError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                                 "name image files or a folder that holds some")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path} does not exist; check the path (an image file or a folder)")
    return files


def load_images(files: list[Path], size: int) -> torch.Tensor:
    """``[B, 3, size, size]`` in [0, 1]: RGB (grey and RGBA converted), resized, centre-cropped."""
    from PIL import Image, UnidentifiedImageError

    from whynot.data.imagenet import imagenet_transform

    transform = imagenet_transform(size)
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                images.append(transform(image.convert("RGB")))
        except (UnidentifiedImageError, OSError) as error:
            raise UsageError(f"cannot read {file} as an image ({type(error).__name__}); pass JPEG, "
                             "PNG or another format Pillow reads, or remove it") from None
    return torch.stack(images)


def load_any_model(spec: str, device: torch.device) -> tuple[nn.Module, str]:
    """``(model in eval mode on device, its name)`` from a zoo name or ``module:attr``."""
    from whynot.models.zoo import available_models, load_model

    if ":" not in spec:
        if spec not in available_models():
            raise UsageError(f"unknown model {spec!r}; use one of {', '.join(available_models())} "
                             "or module:attr for your own")
        return load_model(spec, device), spec
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UsageError(f"cannot import {module_name!r} for --model {spec} ({error}); check the "
                         "name and that its folder is on PYTHONPATH") from None
    if not hasattr(module, attr):
        raise UsageError(f"module {module_name} has no {attr!r}; --model takes module:attr, a "
                         "model or a function that returns one")
    model = getattr(module, attr)
    if not isinstance(model, nn.Module):
        model = model() if callable(model) else model
    if not isinstance(model, nn.Module):
        raise UsageError(f"--model {spec} gave a {type(model).__name__}, not a torch nn.Module; "
                         "point it at a model or a function that returns one")
    return model.to(device).eval(), spec


def class_indices(text: str, class_names, option: str) -> list[int]:
    """Class indices from ``'NAME;INDEX;...'`` (names where the model carries them)."""
    indices = []
    for item in (part.strip() for part in text.split(";")):
        if item.lstrip("-").isdigit():
            index = int(item)
        elif class_names is not None and item in class_names:
            index = list(class_names).index(item)
        else:
            examples = ", ".join(map(repr, list(class_names or [])[:5]))
            hint = ("the model carries no class names; give class indices" if class_names is None
                    else f"the model's classes include {examples}, ...")
            raise UsageError(f"{option}: unknown class {item!r}; {hint}")
        if class_names is not None and not 0 <= index < len(class_names):
            raise UsageError(f"{option}: class {index} is out of range; the model has "
                             f"{len(class_names)} classes (0 to {len(class_names) - 1})")
        indices.append(index)
    return indices


def _device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UsageError(f"--device {text!r} is not a torch device; use cpu, cuda or "
                         "cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {text}: CUDA is not available here; use --device cpu")
    return device


def _out_folder(out: str, overwrite: bool) -> Path:
    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not overwrite:
        raise UsageError(f"--out {folder} exists and is not empty; choose a new folder or pass "
                         "--overwrite")
    return folder


def explain_command(args: argparse.Namespace) -> Path:
    import whynot
    from whynot.explainers.hooks import resolve_layer
    from whynot.utils import progress

    device = _device(args.device)
    folder = _out_folder(args.out, args.overwrite)
    if args.batch_size < 1 or (args.topk is not None and args.topk < 1):
        raise UsageError("--batch-size and --topk must be positive integers")
    files = image_files(args.images)
    if args.method not in whynot.explainers.METHODS:
        raise UsageError(f"unknown method {args.method!r}; use one of "
                         f"{', '.join(whynot.explainers.METHODS)}")
    model, name = load_any_model(args.model, device)
    if args.layer is not None:
        resolve_layer(model, args.layer)  # unknown: fail before any work, naming valid layers
    meta = getattr(model, "whynot_meta", {})
    class_names = meta.get("class_names")
    images = load_images(files, meta.get("input_size") or args.size).to(device)
    names = tuple(c.strip() for c in args.contrast.split(","))
    contrast = names if len(names) > 1 else names[0]
    kwargs = dict(method=args.method, layer=args.layer, topk=args.topk, contrast=contrast,
                  return_explanation=True)
    if args.classes:
        kwargs["classes"] = [class_indices(args.classes, class_names, "--classes")] * len(files)
    if args.foil:
        kwargs["foil"] = class_indices(args.foil, class_names, "--foil")
    parts = []
    for start in progress(range(0, len(files), args.batch_size), desc="explain", unit="batch"):
        chunk = images[start:start + args.batch_size]
        chunk_kwargs = dict(kwargs)
        if args.classes:
            chunk_kwargs["classes"] = kwargs["classes"][:len(chunk)]
        if args.foil:
            chunk_kwargs["foil"] = [kwargs["foil"]] * len(chunk)
        parts.append(whynot.explain(model, chunk, **chunk_kwargs))
    explanation = concatenate(parts)
    return explanation.save(folder, images, model=model if meta.get("name") else name,
                            image_names=[f.stem for f in files], overwrite=args.overwrite)


def concatenate(parts: list):
    """One ``Explanation`` from the explanations of consecutive chunks of images."""
    first = parts[0]

    def cat(values):
        return None if values[0] is None else torch.cat(values)

    maps = ({key: torch.cat([p.maps[key] for p in parts]) for key in first.maps}
            if isinstance(first.maps, dict) else torch.cat([p.maps for p in parts]))
    return first._replace(
        maps=maps, classes=torch.cat([p.classes for p in parts]),
        backward_passes=sum(p.backward_passes for p in parts),
        probabilities=cat([p.probabilities for p in parts]), foil=cat([p.foil for p in parts]),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        folder = explain_command(args)
    # whynot's own errors name the fix (unknown layer, class, contrast; a bad checkpoint or a
    # missing weights file), so they print as one line; nothing was written to --out.
    except (UsageError, ValueError, KeyError, FileNotFoundError, FileExistsError,
            CheckpointError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"saved {folder} (manifest.json, overlays .png, maps .npy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
