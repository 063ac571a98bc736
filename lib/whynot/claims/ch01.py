"""Claims that chapter 01_softmax_vs_logit (notebooks/01_softmax_vs_logit.md) records."""
from whynot.claims import Claim

CHAPTER = "01_softmax_vs_logit"


def _claim(id, paper, where, statement, measure, section, **values) -> Claim:
    return Claim(id, paper, where, statement, measure, CHAPTER, section, **values)


CLAIMS: list[Claim] = [
    _claim("wang-prop1", "wang2022", "Prop. 1",
           "\"For binary classification, given the same data distribution P(x, u), w_1 - w_2 "
           "(c = 2, softmax) are equivalent to w (c = 1, sigmoid) under gradient descent "
           "optimization.\"",
           "max |w - (w_1 - w_2)| over a gradient-descent run on two blobs (float64)",
           "ch01-prop1"),
    _claim("wang-sec32-binary", "wang2022", "Sec. 3.2",
           "\"the explanations with respect to y under sigmoid activation is equivalent to the "
           "explanations with respect to y_1 - y_2 under (binary) softmax activation\"",
           "Input x Gradient x * w of the sigmoid model against x * (w_1 - w_2) of the softmax "
           "model, every sample and iteration",
           "ch01-prop1"),
    _claim("wang-sec31-logit-shift", "wang2022", "Sec. 3.1",
           "increasing w_i^s for all classes by the same δ \"does not change the prediction\"; "
           "\"However, the explanation value for feature x_i changed by δx_i for any target "
           "class.\"",
           "change of the logit Input x Gradient of x_i in a linear model, every target class, "
           "against δ x_i",
           "ch01-sec31"),
    _claim("wang-sec31-mean-invariant", "wang2022", "Sec. 3.1",
           "\"(w_i^t - 1/(c-1) Σ_{s≠t} w_i^s) x_i stays invariant under the modification.\"",
           "change of the mean contrast's explanation of x_i (and of the other contrasts), every "
           "target class",
           "ch01-sec31"),
    _claim("wang-sec33-binary", "wang2022", "Sec. 3.3",
           "Mean and max contrast: \"These two schemes degenerates to y_1 - y_2 when c = 2.\"",
           "mean, max (and weighted) contrasts of a 2-class ReLU CNN against φ(y_t) - φ(y_s), "
           "for Gradient, Input x Gradient, Grad-CAM and LA",
           "ch01-binary"),
    _claim("wang-prop2", "wang2022", "Prop. 2",
           "\"Weighted contrastive explanations (in (1)) towards predicted logits y are equivalent "
           "to explanations towards p = softmax(y) in gradient methods.\"",
           "Gradient of p_t against p_t (1 - p_t) times Eq. 1 written out over all c logit "
           "gradients",
           "ch01-prop2"),
    _claim("wang-prop3", "wang2022", "Prop. 3, Eqs. 3-4",
           "\"For linear back-propagation rules, the weighted contrast of a back-propagated "
           "explanation from the logit is equivalent to back-propagating the weighted contrast "
           "of original explanations of any step.\"",
           "Input x Gradient, Grad-CAM, LA and XGrad-CAM of p_t against p_t (1 - p_t) times Eq. 1 "
           "written out, at several layers of two models",
           "ch01-prop2"),
    _claim("wang-one-backprop", "wang2022", "Sec. 6",
           "the weighted contrast \"is actually equivalent to directly explaining the probability "
           "(softmax activation), which only requires one back-propagation for one sample\"",
           "Input x Gradient of p_t from one backward pass against Eq. 1 from c passes",
           "ch01-prop2"),
    _claim("wang-logit-vs-prob", "wang2022", "Sec. 6",
           "\"We also demonstrate the significant difference between explanations to the logit y "
           "and to the probability p\"",
           "cosine distance between the Grad-CAM maps of y_t and of p_t of the same class",
           "ch01-prop2"),
    _claim("wang-sec4-lrp", "wang2022", "Sec. 4",
           "\"LRP is equivalent to IxG in ReLU networks\"",
           "LRP-0 (z-rule) against Input x Gradient on ReLU CNNs with and without biases and on "
           "synth_vgg (BatchNorm, max-pooling)",
           "ch01-sec4"),
    _claim("wang-sec4-deeplift", "wang2022", "Sec. 4",
           "\"LRP, DL, IxG are all equivalent under homogeneous networks (e.g. ReLU/LeakyReLU "
           "networks with no bias terms)\"",
           "DeepLift-Rescale (zero reference) against Input x Gradient on a bias-free ReLU CNN "
           "(and, outside the statement, with biases)",
           "ch01-sec4"),
    _claim("wang-sec4-ig", "wang2022", "Sec. 4",
           "\"for ReLU DNNs without bias terms ... IG with zeros baselines are equivalent to the "
           "IxG method\"",
           "Integrated Gradients (zero baseline) against Input x Gradient on a bias-free ReLU CNN "
           "(and, outside the statement, with biases)",
           "ch01-sec4"),
    _claim("wang-sec4-la-lrp", "wang2022", "Sec. 4",
           "LA \"is also equivalent to LRP with respect to the activation a instead of the input "
           "x\"",
           "LA at a layer against the LRP-0 relevance at that layer, summed over channels",
           "ch01-sec4"),
    _claim("wang-obfuscated", "wang2022", "Sec. 1",
           "\"explanations of the logit and the probability are usually obfuscated\" ... \"Such "
           "problems can be found in popular tools such as captum and torchray.\"",
           "what the default target of pytorch-grad-cam, torchcam and captum explains on "
           "EfficientNet-Lite0: difference to our logit and softmax maps",
           "ch01-libraries"),
    _claim("reports-gradcampp-softmax", "reports", "KTH report Sec. 6",
           "\"GradCAM++ has a structure incompatible with back-propagating from after the softmax "
           "layer as this is something it already does.\"",
           "cosine distance between Grad-CAM++ of y_t and Grad-CAM++ of p_t (and Grad-CAM of p_t)",
           "ch01-gradcampp"),
    _claim("reports-jacobian", "reports", "Reports Sec. 4.3",
           "\"if there exists a p_t → 1 then it implicates ∂p_i/∂y_j → 0\"",
           "Frobenius norm of the softmax Jacobian against p_top1 (rank correlation), and its "
           "bound 2 (1 - p_top1)",
           "ch01-jacobian"),
    _claim("reports-weight-trend", "reports", "Reports Sec. 4.3, Fig. 6",
           "\"explanation weights seem to increase with logit strength or output probability\"",
           "rank correlation of the top-3 logits y_t with ||∇_x y_t|| (their Fig. 6's axes)",
           "ch01-jacobian"),
    _claim("reports-weight-factor", "reports", "Reports Sec. 4.3",
           "\"an explanation with regards to the dominating value to be weighted significantly "
           "higher, around 3 to 4 times, than all other features\"",
           "geometric mean of ||∇_x y_t1|| / ||∇_x y_t2||",
           "ch01-jacobian", reports_value="3 to 4 times"),
]
