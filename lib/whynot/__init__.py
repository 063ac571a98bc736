"""whynot: class-contrastive and CAM explanations for PyTorch classifiers."""
from __future__ import annotations

__version__ = "0.1.0"

from whynot.explainers import explain, wrap  # noqa: E402

__all__ = ["__version__", "explain", "wrap"]
