"""Claims that chapter 06_group_cam (notebooks/06_group_cam.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "06_group_cam"

CLAIMS: list[Claim] = []
