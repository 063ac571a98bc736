"""Claims that chapter 06_group_cam (notebooks/06_group_cam.md) measures and records."""
from whynot.claims import Claim

CHAPTER = "06_group_cam"


def _claim(id: str, where: str, statement: str, measure: str, section: str,
           paper_value: str = "") -> Claim:
    return Claim(id, "groupcam", where, statement, measure, CHAPTER, section, paper_value)


CLAIMS: list[Claim] = [
    _claim("groupcam-table1-insertion", "Table 1, Sec. 4.3",
           "Group-CAM outperforms other related approaches in terms of insertion",
           "insertion AUC of Group-CAM minus Grad-CAM's, Grad-CAM++'s and Score-CAM's, paired over "
           "images, on each SynthBirds model", "ch06-table1",
           "64.91 (Grad-CAM 63.06, Grad-CAM++ 62.38, Score-CAM 64.75)"),
    _claim("groupcam-table1-deletion", "Table 1, Sec. 4.3",
           "Group-CAM also exceeds other methods in terms of deletion AUC except for XRAI",
           "deletion AUC of Group-CAM minus each rival's (lower is better), paired over images, on "
           "each SynthBirds model", "ch06-table1",
           "11.29 (Grad-CAM 11.97, Grad-CAM++ 12.43, Score-CAM 11.47)"),
    _claim("groupcam-table1-overall", "Table 1",
           "the over-all score shows that Group-CAM outperform other related methods significantly",
           "over-all AUC (insertion - deletion) of Group-CAM minus each rival's, paired over "
           "images, on each SynthBirds model", "ch06-table1",
           "53.62 (Grad-CAM 51.09, Grad-CAM++ 49.95, Score-CAM 53.28)"),
    _claim("groupcam-table2-groups", "Table 2, Sec. 4.3",
           "the over-all score increase with the increase of G",
           "over-all AUC at the largest G (64: the layer's channels) minus at G = 1, paired over "
           "images", "ch06-table2", "50.51 (G = 1) to 54.56 (G = 256)"),
    _claim("groupcam-fig5-theta", "Fig. 5, Sec. 4.3",
           "the over-all score drops quickly when theta > 70",
           "over-all AUC at the largest theta (90) minus at theta = 70, paired over images",
           "ch06-table2"),
    _claim("groupcam-table3-gradcam", "Table 3, Sec. 4.3",
           "Group-CAM runs slower than Grad-CAM (0.09 s against 0.03 s): about 3 times its time",
           "Group-CAM's running time over Grad-CAM's on the same batch, per repeat; the boundary "
           "is the paper's ratio, 3", "ch06-table3", "0.09 s vs 0.03 s (3x)"),
    _claim("groupcam-table3-scorecam", "Table 3, Sec. 4.3",
           "Group-CAM is far faster than Score-CAM (0.09 s against 2.46 s)",
           "Score-CAM's running time over Group-CAM's on the same batch, per repeat; the boundary "
           "is the paper's ratio, 27", "ch06-table3", "2.46 s vs 0.09 s (27x)"),
    _claim("groupcam-fig2-noise", "Fig. 2, Sec. 4.2",
           "results in Group-CAM, random noises are much less than that in region-based methods "
           "and activation-based methods",
           "spread of the map's positive mass (normalised entropy, lower is less noisy) of "
           "Group-CAM minus Grad-CAM's and Score-CAM's, paired over images", "ch06-figures"),
    _claim("groupcam-g1-gradcam", "Sec. 1",
           "if the number of groups in Group-CAM is set to 1, and no de-noising strategy is "
           "applied, then Group-CAM can be simplified as Grad-CAM",
           "largest pixel difference between Group-CAM (G = 1, no de-noising) and the min-max "
           "scaled ReLU Grad-CAM, over the images whose mask raises the score", "ch06-figures"),
    _claim("groupcam-fig3-discrimination", "Fig. 3, Sec. 4.2",
           "Group-CAM correctly gives the explanation locations for both of two categories, even "
           "though the classification score of the latter is much lower",
           "share of the second class's Group-CAM mass on the one part that separates the top two "
           "SynthBirds classes, minus a uniform map's (chance), paired over images",
           "ch06-discrimination"),
    _claim("groupcam-fig6-sanity", "Fig. 6, Sec. 4.5",
           "the Group-CAM is sensitive to classification model parameters and can produce valid "
           "results",
           "rank correlation of Group-CAM's map after cascading randomisation of every layer with "
           "the trained model's map, against 0.5", "ch06-sanity"),
    _claim("groupcam-table4-pointing", "Table 4, Sec. 4.4",
           "Group-CAM beats all the other compared approaches (pointing game, COCO val2017)",
           "mean pointing accuracy over COCO categories, ResNet-50, Group-CAM minus Grad-CAM, "
           "Grad-CAM++ and Score-CAM", "ch06-table4",
           "57.5 (Grad-CAM 56.7, Grad-CAM++ 57.2, Score-CAM 51.0)"),
    _claim("groupcam-fig7-finetune", "Fig. 7, Sec. 5",
           "fine-tune with Group-CAM can contribute to 0.59% (76.74% vs. 76.15%) improvement in "
           "terms of Top-1 accuracy",
           "top-1 accuracy after fine-tuning with Group-CAM-blurred inputs, against fine-tuning "
           "without", "ch06-finetuning", "76.74 % vs 76.15 % (+0.59)"),
    _claim("groupcam-fig8-noise-falls", "Fig. 8, Sec. 5",
           "as the performance of ResNet-50 improves, the noise of the saliency maps generated by "
           "Group-CAM decreases and focuses more on the important regions",
           "noise of Group-CAM's maps (spread of their mass) over the epochs of that fine-tuning",
           "ch06-finetuning"),
]
