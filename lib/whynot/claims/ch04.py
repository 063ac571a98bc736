"""Claims that chapter 04_blurring_and_masking (notebooks/04_blurring_and_masking.md) measures and
records: Wang & Wang's Sec. 5.2.2 and Table 1, and the reports' Sec. 3.2.2 (equal blurring,
XGrad-CAM). The reports' dominating classes (Sec. 4.3) are one claim, ``reports-dominating``,
measured in chapter 05."""
from whynot.claims import Claim

CHAPTER = "04_blurring_and_masking"

_CELLS = ("per cell (model x masking x baseline x method x class x sign, images with p2 > 0.1): "
          "the mean paired difference weighted - original of the relative probability, paired "
          "bootstrap 95 % interval, judged in the direction the kept sign expects (up for "
          "positive, down for negative features); holds if weighted wins every cell")

CLAIMS: list[Claim] = [
    Claim("wang-table1-weighted-better", "wang2022", "Sec. 5.2.2, Table 1",
          "\"It can be found clearly that weighted methods outperform original methods in "
          "altering the probability.\"",
          "Grad-CAM and LA, plain and equal masking, " + _CELLS,
          CHAPTER, "ch04-table1",
          paper_value="wtd. moves p̄ the expected way more than ori. in 24 of 24 CUB-200 cells "
                      "(120 of 120 over the 5 datasets)",
          reports_value="KTH (CUB, equal blurring): 24 of 24 Grad-CAM and LA cells"),
    Claim("wang-table1-weighted-direction", "wang2022", "Sec. 5.2.2, Table 1",
          "\"our weighted contrast method effectively captures positive and negative features "
          "for both t_1 and t_2 classes\"",
          "weighted Grad-CAM and LA maps, per cell: the mean change of the relative probability "
          "from the unmasked image (normal 95 % interval), up where positive features are kept, "
          "down where negative ones are; holds if every cell moves the expected way",
          CHAPTER, "ch04-table1"),
    Claim("wang-table1-logit-fails", "wang2022", "Sec. 5.2.2, Table 1",
          "\"back-propagation explanations from the logits fail to capture the difference "
          "between exclusive features and features shared among classes\"",
          "original Grad-CAM and LA maps of t_2 with only its negative features kept: the change "
          "of p̄_t2 from the unmasked image (normal 95 % interval); holds where it rises (the "
          "kept pixels that count against t_2 count even more against t_1)",
          CHAPTER, "ch04-table1",
          paper_value="CUB-200, t_2, neg. features, ori.: 0.290 unmasked, 0.409-0.424 after "
                      "(all 6 cells rise)"),
    Claim("wang-table1-selection", "wang2022", "Sec. 5.2.2",
          "\"Expectations are calculated over samples where p_{t_2} > \\hat{p}. \\hat{p} is a "
          "threshold we fixed to be 0.1 here to ensure that the t_1 class not to be too "
          "dominant.\"",
          "a choice of method, which we follow; whether the results depend on it is the "
          "reports' dominating-classes claim (chapter 05)",
          CHAPTER, "ch04-experiment"),
    Claim("wang-table1-other-datasets", "wang2022", "Sec. 5.2, Table 1",
          "Table 1 on \"5 fine-grained datasets\": CUB-200, FGVC, Food-101, Flower-102, "
          "Stanford Cars",
          "the four datasets besides CUB-200", CHAPTER, "ch04-experiment",
          paper_value="wtd. better than ori. in 96 of 96 cells of the four"),
    Claim("reports-table1-similar", "reports", "Reports Sec. 3.2.2, Table 1",
          "\"The results are very similar to those of the original paper, although not "
          "identical, and show the same patterns.\"",
          "on CUB-200 with the fine-tuned VGG16-BN (full profile), equal masking: " + _CELLS,
          CHAPTER, "ch04-equal",
          reports_value="KTH Table 1: CUB-200, VGG16-BN, equal blurring, GC/LA/XC rows"),
    Claim("reports-equal-blurring", "reports", "Reports Sec. 3.2.2",
          "equal blurring, \"to guarantee that the original and weighted methods both modify an "
          "equal number of pixels\", \"seems to have a minor impact on the results while "
          "negating some bias\"",
          "equal masking, all three methods: " + _CELLS + "; the why counts the cells whose "
          "winner differs from plain masking",
          CHAPTER, "ch04-equal"),
    Claim("reports-xgradcam-similar", "reports", "Reports Secs. 2.1 and 3.2.2, Table 1",
          "\"we also added an additional row with results using XGradCAM. This gave similar "
          "results to GradCAM and Linear Approximation\"",
          "XGrad-CAM, plain and equal masking: " + _CELLS, CHAPTER, "ch04-equal",
          reports_value="KTH, XC t_1: 0.712 unmasked; blur pos. 0.733/0.847, neg. 0.422/0.248 "
                        "(ori./wtd.); t_2: 0.288; pos. 0.504/0.785, neg. 0.393/0.169"),
    Claim("reports-xgradcam-better", "reports", "Reports Sec. 3.2.2, Table 1",
          "XGradCAM \"performed slightly better on the negative features and for positive "
          "features for the second most probable class t_2\"",
          "weighted maps, per model and masking: per image, the mean over the negative-feature "
          "cells and t_2's positive-feature cells of XGrad-CAM's relative probability minus "
          "Grad-CAM's (and minus LA's), in the expected direction; paired bootstrap 95 % "
          "interval; holds if above 0 against both",
          CHAPTER, "ch04-equal",
          reports_value="KTH, wtd., blur: neg. t_1 XC 0.248, GC 0.271, LA 0.274; "
                        "pos. t_2 XC 0.785, GC 0.759, LA 0.738"),
]
