"""Metrics, one per file, each with its formula and its direction (``DIRECTION``).

- :func:`relative_probability`: Table 1 of Wang & Wang, the pair-renormalised probability.
- :func:`part_mass`: share of positive explanation mass inside a ground-truth part.
- :func:`pointing_game`: is the map's maximum on the part (with a pixel tolerance)?
- :func:`deletion`, :func:`insertion`: RISE's causal curves and their areas (Group-CAM Table 1).
- :func:`average_drop`, :func:`average_increase`: Grad-CAM++'s confidence after masking by the map.
- :func:`map_entropy`: spread of a map's positive mass (normalised entropy; noise).
- :func:`model_randomization`: Adebayo et al.'s sanity check (Spearman and SSIM before / after).
"""
from whynot.metrics.average_drop import average_drop
from whynot.metrics.average_increase import average_increase
from whynot.metrics.deletion import deletion
from whynot.metrics.insertion import insertion
from whynot.metrics.map_entropy import map_entropy
from whynot.metrics.model_randomization import model_randomization
from whynot.metrics.part_mass import part_mass
from whynot.metrics.pointing_game import pointing_game
from whynot.metrics.relative_probability import relative_probability

__all__ = ["average_drop", "average_increase", "deletion", "insertion", "map_entropy", "model_randomization", "part_mass", "pointing_game", "relative_probability"]
