"""Claims that chapter 01_softmax_vs_logit (notebooks/01_softmax_vs_logit.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "01_softmax_vs_logit"

CLAIMS: list[Claim] = []
