"""Claims that chapter 05_vision_transformers (notebooks/05_vision_transformers.md) measures and
records: the reproducibility reports' ViT extension (both reports, Secs. 2.2, 3.4, 3.5) and
their dominating-classes statement (Sec. 4.3), which the book tests once, here."""
from whynot.claims import Claim

CHAPTER = "05_vision_transformers"

CLAIMS: list[Claim] = [
    Claim(
        "reports-vit-most-layers-bad", "reports", "Reports Sec. 3.4",
        "\"most explanation maps produce qualitatively bad results, not highlighting the important "
        "parts of the image to our eyes\"",
        "share of token Grad-CAM layers whose logit maps put more mass on the part that separates "
        "t1 and t2 than a uniform map (bounds from each layer's interval); holds below 1/2",
        CHAPTER, "ch05-layers",
    ),
    Claim(
        "reports-vit-best-block", "reports", "Reports Sec. 3.4",
        "\"The layers in figure 5a have been explicitly selected because they gave good results, "
        "explanations in regard to other layers do not produce spatially coherent results\"",
        "the layer with the most part mass against a uniform map, the next best layer and the "
        "default layer (paired differences)",
        CHAPTER, "ch05-layers",
    ),
    Claim(
        "reports-vit-gradcam-softmax", "reports", "Reports Sec. 3.4",
        "\"the contrastive explanations with regards to the softmax do not have a significant "
        "effect on the results\"",
        "correlation over pixels of t1's softmax map with its logit map, per token Grad-CAM layer, "
        "on images with p2 > 0.1; little effect above 0.9",
        CHAPTER, "ch05-softmax",
    ),
    Claim(
        "reports-vit-no-visual-difference", "reports", "Reports Sec. 3.4",
        "\"the explanation is often dominated by the explanation of the dominating class, if "
        "images are not selected to have similar probabilities for the top elements then there "
        "is usually no visual difference\"",
        "default-layer Grad-CAM: rank correlation of p1 - p2 with corr(softmax, logit map) of t1 "
        "and with -corr(t2's softmax map, t1's logit map); correlation above 0.9 where p2 <= 0.1",
        CHAPTER, "ch05-gap",
    ),
    Claim(
        "reports-vit-rollout-localizes", "reports", "Reports Sec. 3.5",
        "gradient-weighted attention rollout \"is significantly more accurate to the perceived "
        "localization of the image\"",
        "part mass of rollout's logit map minus that of token Grad-CAM at the best and at the "
        "default layer (paired, scored images)",
        CHAPTER, "ch05-layers",
    ),
    Claim(
        "reports-vit-rollout-softmax", "reports", "Reports Sec. 3.5",
        "\"the contrastive method with regards to the softmax does not seem to significantly "
        "impact the explanation\"",
        "correlation over pixels of rollout's softmax map of t1 with its logit map, on images with "
        "p2 > 0.1; little effect above 0.9",
        CHAPTER, "ch05-softmax",
    ),
    Claim(
        "reports-vit-not-transferable", "reports", "Anonymous report, abstract",
        "\"The generalization seems to be good, although not directly transferable to Vision "
        "Transformers.\"",
        "the weighted contrast's part-mass gain over the logit map, default-layer ViT Grad-CAM "
        "minus the CNN's Grad-CAM on the same images (paired)",
        CHAPTER, "ch05-softmax",
    ),
    Claim(
        "reports-dominating", "reports", "Reports Sec. 4.3",
        "when p1 >> p2, \"the method becomes worse or is reduced to the original explanation\"",
        "per architecture, rank correlations over images: similarity of the weighted to the logit "
        "map of t1 with p1 - p2 (reduced), and the weighted map's Table 1 and part-mass "
        "advantage with p1 (worse)",
        CHAPTER, "ch05-dominating",
    ),
]
