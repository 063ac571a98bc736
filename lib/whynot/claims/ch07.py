"""Claims that chapter 07_abs_cam (notebooks/07_abs_cam.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "07_abs_cam"

CLAIMS: list[Claim] = []
