"""Cross-checks against independent implementations: pytorch-grad-cam and captum.

Same models, inputs, layers and targets; pytorch-grad-cam gets one call per contrast, with its
target callables (ClassifierOutputTarget, ClassifierOutputSoftmaxTarget, and small callables for
mean / max / weighted with weights fixed from the unmasked image, as ours).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import whynot
from whynot.targets import CONTRASTS, other_class_weights, strongest_other
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401

pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
captum_attr = pytest.importorskip("captum.attr")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")

PEERS = {
    "gradcam": pytorch_grad_cam.GradCAM,
    "xgradcam": pytorch_grad_cam.XGradCAM,
    "gradcam++": pytorch_grad_cam.GradCAMPlusPlus,
    "scorecam": pytorch_grad_cam.ScoreCAM,
}
RELU_LAYER = 5  # tiny_cnn's ReLU after BatchNorm: nonnegative, where their XGradCAM's sum(A) = our sum|A|


class FixedVectorTarget:
    """A pytorch-grad-cam target ``v^T y`` with ``v`` fixed from the unmasked image."""

    def __init__(self, vector: torch.Tensor):
        self.vector = vector

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return model_output @ self.vector


def peer_targets(logits: torch.Tensor, classes: torch.Tensor, contrast: str) -> list:
    """One pytorch-grad-cam target per image for ``classes [B]``."""
    num_classes = logits.shape[1]
    result = []
    for b, t in enumerate(classes.tolist()):
        one_hot = torch.zeros(num_classes, dtype=logits.dtype)
        one_hot[t] = 1
        if contrast == "logit":
            result.append(ClassifierOutputTarget(t))
        elif contrast == "softmax":
            result.append(ClassifierOutputSoftmaxTarget(t))
        elif contrast == "mean":
            result.append(FixedVectorTarget(one_hot - (1 - one_hot) / (num_classes - 1)))
        elif contrast == "max":
            other = int(strongest_other(logits[b : b + 1], torch.tensor([[t]]))[0, 0])
            result.append(FixedVectorTarget(one_hot - torch.eye(num_classes, dtype=logits.dtype)[other]))
        else:
            result.append(FixedVectorTarget(one_hot - other_class_weights(logits[b : b + 1], torch.tensor([[t]]))[0, 0]))
    return result


def model_and_images():
    return tiny_cnn(seed=7, width=5, classes=6, dtype=torch.float32), random_images(batch=3, seed=3, dtype=torch.float32)


@pytest.mark.parametrize("method", list(PEERS))
@pytest.mark.parametrize("contrast", CONTRASTS)
def test_cam_maps_match_pytorch_grad_cam_before_normalisation(method, contrast):
    model, images = model_and_images()
    logits = model(images).detach()
    classes = logits.topk(2).indices[:, 1]  # runner-up: its max contrast is negative somewhere
    ours = whynot.explain(model, images, method=method, layer=str(RELU_LAYER), classes=classes.tolist(), contrast=contrast, upsample=False)
    targets = peer_targets(logits, classes, contrast)
    with PEERS[method](model, target_layers=[model[RELU_LAYER]]) as cam:
        cam.batch_size = 4
        cam(input_tensor=images, targets=targets)
        activations = cam.activations_and_grads.activations[0].numpy()
        gradients = cam.activations_and_grads.gradients[0].numpy() if method != "scorecam" else None
        theirs = cam.get_cam_image(images, model[RELU_LAYER], targets, activations, gradients)
    torch.testing.assert_close(ours[:, 0], torch.from_numpy(np.asarray(theirs, dtype=np.float32)), atol=1e-5, rtol=1e-4)


def grad_cam_scaling(maps: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's output scaling: min-max per map, applied by each layer and the aggregate."""
    for _ in range(2):
        maps = maps - maps.amin(dim=(-2, -1), keepdim=True)
        maps = maps / (1e-7 + maps.amax(dim=(-2, -1), keepdim=True))
    return maps


@pytest.mark.parametrize("method", list(PEERS))
def test_classic_relu_maps_match_pytorch_grad_cam_outputs(method):
    """Their full pipeline (ReLU, scaling) at a full-resolution layer, so no resize differs."""
    model, images = model_and_images()
    logits = model(images).detach()
    classes = logits.argmax(1)
    ours = whynot.explain(model, images, method=method, layer="1", classes=classes.tolist(), contrast="softmax", relu=True)
    with PEERS[method](model, target_layers=[model[1]]) as cam:
        theirs = cam(input_tensor=images, targets=peer_targets(logits, classes, "softmax"))
    torch.testing.assert_close(grad_cam_scaling(ours[:, 0]), torch.from_numpy(theirs), atol=1e-5, rtol=1e-4)


def test_layer_gradcam_matches_captum():
    model, images = model_and_images()
    classes = model(images).topk(2).indices
    ours = whynot.explain(model, images, method="gradcam", layer="3", classes=classes, contrast=("logit", "softmax"), upsample=False)
    for name, forward in (("logit", model), ("softmax", lambda x: model(x).softmax(1))):
        layer_gradcam = captum_attr.LayerGradCam(forward, model[3])
        for k in range(2):
            theirs = layer_gradcam.attribute(images, target=classes[:, k].tolist())
            torch.testing.assert_close(ours[name][:, k], theirs[:, 0].detach(), atol=1e-6, rtol=1e-4)


def mean_contrast_head(num_classes: int) -> torch.Tensor:
    """M with (y M)_t = y_t - mean_{s != t} y_s, so captum's target t of y M is the mean contrast."""
    return torch.eye(num_classes) * num_classes / (num_classes - 1) - 1 / (num_classes - 1)


@pytest.mark.parametrize("method", ["gradient", "input_x_gradient", "integrated_gradients"])
def test_input_space_methods_match_captum(method):
    model, images = model_and_images()
    classes = model(images).topk(2).indices
    head = mean_contrast_head(6)
    forwards = {"logit": model, "softmax": lambda x: model(x).softmax(1), "mean": lambda x: model(x) @ head}
    steps = 12
    ours = whynot.explain(
        model, images, method=method, classes=classes, contrast=tuple(forwards), keep_channels=True,
        **({"steps": steps} if method == "integrated_gradients" else {}),
    )
    for name, forward in forwards.items():
        for k in range(2):
            target = classes[:, k].tolist()
            if method == "gradient":
                theirs = captum_attr.Saliency(forward).attribute(images, target=target, abs=False)
            elif method == "input_x_gradient":
                theirs = captum_attr.InputXGradient(forward).attribute(images, target=target)
            else:
                theirs = captum_attr.IntegratedGradients(forward).attribute(
                    images, baselines=0.0, target=target, n_steps=steps, method="gausslegendre"
                )
            torch.testing.assert_close(ours[name][:, k], theirs.detach(), atol=1e-6, rtol=1e-4, msg=f"{name} {k}")


def test_scorecam_masks_towards_zero_in_the_models_normalised_space():
    """A model that normalises inside, given pixel images, against pytorch-grad-cam given the
    normalised images: their masks multiply normalised inputs, so masked pixels become the mean."""
    from whynot.models.common import NormalizedModel

    net, images = model_and_images()
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.3, 0.25)
    model = NormalizedModel(net, mean, std, {"name": "tiny"}).eval()
    normalised = model.normalize(images)
    logits = model(images).detach()
    classes = logits.argmax(1)
    ours = whynot.explain(model, images, method="scorecam", layer=f"net.{RELU_LAYER}", classes=classes.tolist(),
                          contrast="logit", upsample=False)
    targets = peer_targets(logits, classes, "logit")
    with PEERS["scorecam"](net, target_layers=[net[RELU_LAYER]]) as cam:
        cam(input_tensor=normalised, targets=targets)
        activations = cam.activations_and_grads.activations[0].numpy()
        theirs = cam.get_cam_image(normalised, net[RELU_LAYER], targets, activations, None)
    torch.testing.assert_close(ours[:, 0], torch.from_numpy(np.asarray(theirs, dtype=np.float32)), atol=1e-5, rtol=1e-4)
