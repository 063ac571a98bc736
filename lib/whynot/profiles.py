"""Run profiles shared by every notebook.

* ``smoke``: CI. Tiny sizes, seconds per notebook, committed checkpoints, no network.
* ``default``: offline; what the published book shows (synthetic data, our small models,
  EfficientNet-Lite on bundled photos).
* ``full``: a Colab GPU with internet: the papers' datasets (CUB-200, ImageNet val) and
  torchvision's pretrained models.

Notebooks read ``get_profile(profile)`` and may override sizes in their ``parameters`` cell.
Their own samples (images drawn for a figure, timing repeats, sanity checks) are smallest where
``few`` is set: in the smoke profile and in the rehearsal of the full one (:mod:`whynot.rehearsal`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from whynot import rehearsal


@dataclass(frozen=True)
class Profile:
    name: str
    n_images: int  # images per quantitative experiment
    batch_size: int
    real_data: bool  # full profile: the papers' datasets and pretrained torchvision models
    few: bool  # the notebooks' own samples (figures, timing repeats, sanity checks) at their least
    device: str

    def with_(self, **changes) -> "Profile":
        return replace(self, **changes)


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


PROFILES = {
    "smoke": dict(n_images=16, batch_size=16, real_data=False, few=True),
    "default": dict(n_images=500, batch_size=32, real_data=False, few=False),
    "full": dict(n_images=5794, batch_size=64, real_data=True, few=False),
}


def get_profile(name: str) -> Profile:
    """Return the named profile; raise a ValueError that lists the valid names."""
    try:
        spec = PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; choose one of {sorted(PROFILES)}"
        ) from None
    if name == "full" and rehearsal.active():  # whynot.rehearsal: a few images, on the CPU
        spec = dict(spec, n_images=rehearsal.N_IMAGES, batch_size=rehearsal.BATCH_SIZE, few=True)
        return Profile(name=name, device="cpu", **spec)
    return Profile(name=name, device=_device(), **spec)
