"""The book's names for the explanation methods and the contrasts, each in one spelling.

Methods are spelled as the Group-CAM and Abs-CAM papers print them ("Grad-CAM"); contrasts as
Wang & Wang name them (the logit's map is their "original")."""
from __future__ import annotations

METHOD_LABELS = {
    "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "smoothgradcam++": "Smooth Grad-CAM++",
    "xgradcam": "XGrad-CAM", "scorecam": "Score-CAM", "groupcam": "Group-CAM", "abscam": "Abs-CAM",
    "la": "LA",
}
CONTRAST_LABELS = {"logit": "original", "softmax": "softmax", "weighted": "weighted",
                   "mean": "mean", "max": "max"}
# One colour per contrast in every chapter's bar and line charts (the original map grey).
CONTRAST_COLOURS = {"logit": "#8c8c8c", "softmax": "#7b4fa8", "weighted": "#3a6fd8",
                    "mean": "#9ecae1", "max": "#e8743b"}
