"""Claims that chapter 02_gradient_sign_perturbation (notebooks/02_gradient_sign_perturbation.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "02_gradient_sign_perturbation"

_FIG3 = ("Per model, eps and iterations (the settings): the mean change over images under "
         "weighted minus that under the best other contrast, paired bootstrap 95 % interval: "
         "weighted wins, ties (interval covers 0) or loses; holds if it wins every setting")

CLAIMS: list[Claim] = [
    Claim("wang-fig3-pt-accuracy", "wang2022", "Fig. 3 (caption) and Sec. 5.1",
          "\"the changes of p_t and accuracy match each other, but changes in y_t do not\"",
          "Per model and eps, Spearman's rho over the 12 contrast x iterations conditions: "
          "rho(mean dp_t, mean dacc) - rho(mean dy_t, mean dacc), bootstrap 95 % interval "
          "over images; holds if above 0 in every model and eps",
          CHAPTER, "ch02-fig3"),
    Claim("wang-fig3-weighted-pt", "wang2022", "Fig. 3 (caption) and Sec. 5.1",
          "\"our method shows higher p_t and accuracy in all settings\" (p_t)",
          _FIG3 + " on p_t", CHAPTER, "ch02-fig3"),
    Claim("wang-fig3-weighted-accuracy", "wang2022", "Fig. 3 (caption) and Sec. 5.1",
          "\"our method shows higher p_t and accuracy in all settings\" (accuracy)",
          _FIG3 + " on the accuracy", CHAPTER, "ch02-fig3",
          reports_value="KTH, VGG16, eps 3e-3, accuracy 0.716 before; after 1/2/10 iterations: "
                        "weighted 0.956/0.987/0.997, max 0.913/0.968/0.994, "
                        "original 0.877/0.896/0.911"),
    Claim("reports-fig3", "reports", "Reports Sec. 3.1",
          "\"the weighted and max explanation methods yield an increase to p_t and accuracy, "
          "while the original and mean explanation methods yield an increase to y_t\"",
          "The mean change (normal 95 % interval) of p_t and accuracy under weighted and max, "
          "of y_t under original and mean, above 0 in every setting",
          CHAPTER, "ch02-fig3"),
    Claim("reports-pgd-equations", "reports", "KTH report Sec. 3.1 (Eqs. 5-6; the anonymous "
          "version likewise, without \"both\")",
          "\"the equations for the gradient sign perturbation in the original paper turned out "
          "to have errors both in the clamping and indexing of the iterations\"",
          "The update as printed (gradient at x, clamp to [min(x - eps, 0), max(x + eps, 1)]) "
          "on test images: whether 10 iterations give the image of 1 (then Fig. 3's iteration "
          "counts could not differ) while the corrected update's do not",
          CHAPTER, "ch02-update",
          paper_value="x^{n+1} <- x^n + alpha sign(phi^t(x)); "
                      "clamp(x^{n+1}, min(x - eps, 0), max(x + eps, 1))",
          reports_value="x^{n+1} <- x^n + alpha sign(phi^t(x^n)); "
                        "clamp(x^{n+1}, max(x - eps, 0), min(x + eps, 1)) (anonymous: x^0)"),
    Claim("reports-pgd-eps", "reports", "Reports Sec. 3.1",
          "\"the original paper states that they use eps = 10^{-3}, while after being in contact "
          "with the original authors we found that eps = 3 x 10^{-3} had been used\"",
          "Not testable (the authors' runs); we run both eps and compare the ordering",
          CHAPTER, "ch02-eps", paper_value="eps = 1e-3 (printed)",
          reports_value="eps = 3e-3 (used)"),
]
