"""Claims that chapter 02_gradient_sign_perturbation (notebooks/02_gradient_sign_perturbation.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "02_gradient_sign_perturbation"

CLAIMS: list[Claim] = []
