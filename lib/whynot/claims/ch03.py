"""Claims that chapter 03_heatmaps (notebooks/03_heatmaps.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "03_heatmaps"

CLAIMS: list[Claim] = []
