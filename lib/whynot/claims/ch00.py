"""Claims that chapter 00_data_and_models (notebooks/00_data_and_models.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "00_data_and_models"

CLAIMS: list[Claim] = []
