"""Claims that chapter 05_vision_transformers (notebooks/05_vision_transformers.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "05_vision_transformers"

CLAIMS: list[Claim] = []
