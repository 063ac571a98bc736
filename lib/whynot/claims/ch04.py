"""Claims that chapter 04_blurring_and_masking (notebooks/04_blurring_and_masking.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "04_blurring_and_masking"

CLAIMS: list[Claim] = []
