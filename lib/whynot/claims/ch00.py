"""Claims that chapter 00_data_and_models (notebooks/00_data_and_models.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "00_data_and_models"

CLAIMS: list[Claim] = [
    Claim(
        id="wang-models-return-logits",
        paper="wang2022",
        where="Sec. 1",
        statement="\"PyTorch classification models are usually built without the softmax "
        "activation\"",
        measure="share of the book's models (ours and EfficientNet-Lite0) whose outputs are not "
        "probabilities (rows that do not sum to 1 or leave [0, 1])",
        chapter=CHAPTER,
        section="ch00-logits",
    ),
]
