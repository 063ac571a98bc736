"""Claims that chapter 03_heatmaps (notebooks/03_heatmaps.md) measures and records.

The paper's Figs. 1, 4 and 5 are pictures of CUB-200 images; the chapter measures what each
picture is said to show on every qualifying SynthBirds test image (with ``synth_vgg``, and for
the part-localization claims ``synth_resnet`` and ``synth_mobile``), and in the full profile on
CUB-200-2011 test images with a fine-tuned VGG16-BN as well.
"""
from whynot.claims import Claim

CHAPTER = "03_heatmaps"


def _claim(id: str, paper: str, where: str, statement: str, measure: str, section: str,
           paper_value: str = "", reports_value: str = "") -> Claim:
    return Claim(id, paper, where, statement, measure, CHAPTER, section, paper_value,
                 reports_value)


CLAIMS: list[Claim] = [
    _claim("wang-fig1", "wang2022", "Fig. 1",
           "pixels with negative explanation values are blurred ... The blue/red numbers are "
           "expected to decrease/increase if the explanations capture pixels with "
           "class-discriminative power",
           "blur the negative pixels of the weighted Grad-CAM maps of t1 and t2 on every image "
           "with p2 > 0.1: the explained class's p rises, the other's falls, and the two move "
           "apart more than with the original maps (paired over images)", "ch03-fig1",
           "one CUB image"),
    _claim("wang-fig2", "wang2022", "Fig. 2",
           "A proper combination of such information is equivalent to the back-propagation "
           "from p",
           "Grad-CAM of p_t by plain autograd against p_t (1 - p_t) times the weighted Grad-CAM "
           "(largest residual over images, relative to the map's peak, below 1e-3)", "ch03-fig2"),
    _claim("wang-fig4-similar", "wang2022", "Sec. 5.2.1, Fig. 4",
           "the original methods back-propagates from the logits, which will always give very "
           "similar explanations",
           "Pearson r over pixels between the maps of t1 and t2, original minus weighted, paired "
           "over images with p2 > 0.1 (Grad-CAM and LA)", "ch03-fig4"),
    _claim("wang-fig4-parts", "wang2022", "Sec. 5.2.1, Fig. 4",
           "weighted methods have focus on specific parts in explanations of different classes",
           "part mass and pointing game on the SynthBirds part that separates t1 and t2, weighted "
           "minus original, maps of t1 and t2, Grad-CAM and LA on three models",
           "ch03-localization"),
    _claim("wang-fig5-mean", "wang2022", "Sec. 5.3, Fig. 5",
           "we can find that the mean contrast is almost the same as the original GradCAM",
           "Pearson r over pixels between the mean and the original Grad-CAM map of each of the "
           "top three classes, above 0.9, on images with p3 > 0.1", "ch03-fig5"),
    _claim("wang-fig5-max-inverse", "wang2022", "Sec. 5.3, Fig. 5",
           "the max contrastive explanations for these two classes are simply the additive "
           "inverse of each other",
           "max |max_1 + max_2| / max |max_1| of Grad-CAM, largest over images, below 1e-3",
           "ch03-fig5"),
    _claim("wang-fig5-max", "wang2022", "Sec. 5.3, Fig. 5",
           "As for the max contrastive scheme, it only cares for the max non-target class, which "
           "is insufficient",
           "part mass of the map of t1, weighted minus max, paired over images: on the part that "
           "separates t1 and t2 (p2 > 0.1) and on the part that separates t1 from the third class "
           "(p3 > 0.1), three methods on three models", "ch03-max"),
    _claim("wang-tradeoff", "wang2022", "Sec. 6",
           "y-based explanations have better localization capability, while p-based "
           "explanations focus more on the contrast among classes",
           "positive mass on the bird, original minus weighted, and on the part that separates t1 "
           "and t2, weighted minus original, map of t1, paired over images, three methods on "
           "three models", "ch03-tradeoff"),
    _claim("reports-fig4", "reports", "Reports Sec. 3.2.1",
           "the original explanation method is quite consistent among the two classes ... the "
           "weighted methods produce almost complementary heatmaps for the two classes",
           "Pearson r between the maps of t1 and t2: above 0.5 for the original, below -0.5 for "
           "the weighted maps, Grad-CAM, LA and XGrad-CAM, images with p2 > 0.1", "ch03-fig4"),
    _claim("reports-negative-areas", "reports", "Reports Sec. 3.2.1",
           "the original GradCAM has much larger negative areas than positive for all selected "
           "images",
           "share of negative pixels of the original Grad-CAM maps of t1 and t2, above 0.5, images "
           "with p2 > 0.1", "ch03-fig4"),
    _claim("reports-xgradcam", "reports", "Reports Sec. 2.1, Sec. 5",
           "been able to apply their method to other similar tasks using vision transformer "
           "architectures and the XGradCAM explanation method with reasonable results",
           "XGrad-CAM: part mass and pointing game on the part that separates t1 and t2, weighted "
           "minus original, maps of t1 and t2 on three models", "ch03-localization"),
    _claim("reports-fig5", "reports", "Reports Sec. 3.3",
           "original and mean methods yield extremely similar results ... max similarity for the "
           "two most probable classes is each other's inverse",
           "as wang-fig5-mean and wang-fig5-max-inverse, on the reports' selection p3 > 0.1",
           "ch03-fig5", reports_value="threshold p3 > 0.1"),
]
