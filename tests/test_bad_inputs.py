"""Bad input gets a clear error that names the problem and the fix."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import whynot
from test_explainers import TinyViT, random_images, single_thread, tiny_cnn  # noqa: F401


@pytest.fixture
def model():
    return tiny_cnn()


@pytest.fixture
def images():
    return random_images()


def test_unknown_layer_lists_valid_names(model, images):
    with pytest.raises(ValueError, match=r"unknown layer 'features.40'; valid names include '0', '3'"):
        whynot.explain(model, images, layer="features.40")


def test_a_module_outside_the_model(model, images):
    with pytest.raises(ValueError, match="not a submodule"):
        whynot.explain(model, images, layer=nn.Conv2d(3, 3, 1))


def test_no_convolution_to_default_to(images):
    with pytest.raises(ValueError, match="no nn.Conv2d.*pass layer="):
        whynot.explain(nn.Sequential(nn.Flatten(), nn.Linear(192, 3)).double().eval(), images)


def test_class_index_out_of_range(model, images):
    with pytest.raises(ValueError, match=r"class index 5 is out of range: the model has 5 classes \(valid indices 0..4\)"):
        whynot.explain(model, images, classes=[[0, 5], [1, 2]])


def test_negative_class_index(model, images):
    with pytest.raises(ValueError, match="class index -1 is out of range"):
        whynot.explain(model, images, classes=-1)


def test_one_class_per_image_needs_one_entry_per_image(model, images):
    with pytest.raises(ValueError, match="3 entries for 2 images.*one class per image"):
        whynot.explain(model, images, classes=[0, 1, 2])


def test_float_class_indices(model, images):
    with pytest.raises(ValueError, match="integer class indices"):
        whynot.explain(model, images, classes=torch.tensor([0.0, 1.0]))


def test_classes_and_topk_together(model, images):
    with pytest.raises(ValueError, match="either classes= or topk="):
        whynot.explain(model, images, classes=0, topk=2)


def test_topk_larger_than_the_number_of_classes(model, images):
    with pytest.raises(ValueError, match=r"topk must be an int in \[1, 5\]"):
        whynot.explain(model, images, topk=6)


def test_images_without_a_batch_dimension(model, images):
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\].*got shape \(3, 8, 8\).*image\[None\]"):
        whynot.explain(model, images[0])


def test_images_with_the_wrong_number_of_channels(model):
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\].*got shape \(2, 1, 8, 8\)"):
        whynot.explain(model, torch.rand(2, 1, 8, 8, dtype=torch.float64))


def test_integer_images(model):
    with pytest.raises(ValueError, match="floating tensor in \\[0, 1\\]; got dtype torch.uint8"):
        whynot.explain(model, torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def test_images_that_are_not_tensors(model, images):
    with pytest.raises(ValueError, match="torch.Tensor"):
        whynot.explain(model, images.numpy())


def test_nan_in_the_images(model, images):
    images[1, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        whynot.explain(model, images)


def test_inf_in_the_images(model, images):
    images[0, 2, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        whynot.explain(model, images)


def test_a_model_that_returns_probabilities(model, images):
    with pytest.raises(ValueError, match="probabilities, not logits; pass logits: remove the final softmax"):
        whynot.explain(nn.Sequential(model, nn.Softmax(dim=1)).eval(), images, layer="0.3")


def test_a_model_that_returns_log_probabilities(model, images):
    with pytest.raises(ValueError, match="log-probabilities, not logits; pass logits: remove the final softmax"):
        whynot.explain(nn.Sequential(model, nn.LogSoftmax(dim=1)).eval(), images, method="gradient")


def test_a_model_with_one_output_is_explained_against_the_implicit_zero(images):
    model = tiny_cnn(classes=1)
    both = whynot.explain(model, images, method="gradient", classes=1, contrast=("logit", "max"),
                          return_explanation=True)
    torch.testing.assert_close(both.maps["max"], both.maps["logit"])  # y - 0 = y
    torch.testing.assert_close(both.probabilities[:, 1], model(images)[:, 0].sigmoid())
    with pytest.warns(UserWarning, match="class 0 is the implicit logit 0.*classes=1"):
        whynot.explain(model, images, method="gradient", classes=0)


def test_a_model_with_no_output(images):
    with pytest.raises(ValueError, match="c >= 2"):
        whynot.explain(nn.Sequential(tiny_cnn(classes=1), nn.Linear(1, 0)).double().eval(), images)


def test_unknown_method_lists_valid_ones(model, images):
    with pytest.raises(ValueError, match="unknown method 'gradcampp'; valid methods are gradient, .*gradcam\\+\\+, scorecam"):
        whynot.explain(model, images, method="gradcampp")


def test_unknown_contrast_lists_valid_ones(model, images):
    with pytest.raises(ValueError, match="unknown contrast \\['softmx'\\]; valid contrasts are logit, softmax, weighted, mean, max"):
        whynot.explain(model, images, contrast=("logit", "softmx"))


def test_unknown_method_option_names_the_method(model, images):
    with pytest.raises(TypeError, match="gradcam: .*steps"):
        whynot.explain(model, images, steps=3)


def test_a_layer_for_an_input_space_method(model, images):
    with pytest.raises(ValueError, match="input space and takes no layer"):
        whynot.explain(model, images, method="gradient", layer="3")


def test_a_model_in_training_mode(model, images):
    model.train()
    with pytest.raises(ValueError, match="training mode.*call model.eval\\(\\)"):
        whynot.explain(model, images)
    assert model.training, "the mode must not be changed behind the caller's back"


def test_inference_mode(model, images):
    with torch.inference_mode(), pytest.raises(RuntimeError, match="outside torch.inference_mode"):
        whynot.explain(model, images)


def test_a_layer_that_does_not_run(images):
    class WithSpareHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.unused = tiny_cnn(), nn.Linear(5, 5)

        def forward(self, x):
            return self.net(x)

    with pytest.raises(ValueError, match="'unused' did not run"):
        whynot.explain(WithSpareHead().double().eval(), images, layer="unused")


def test_a_shared_layer_that_runs_twice(images):
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(3, 4, 3), relu, nn.Conv2d(4, 4, 3), relu, nn.Flatten(), nn.LazyLinear(3))
    model(images.float())
    model = model.double().eval()
    with pytest.raises(ValueError, match="ran twice"):
        whynot.explain(model, images, layer="1")


def test_a_layer_that_returns_a_tuple(images):
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair, self.head = Pair(), nn.Sequential(nn.Flatten(), nn.Linear(192, 3))

        def forward(self, x):
            return self.head(self.pair(x)[0])

    with pytest.raises(TypeError, match="returns tuple, not a tensor"):
        whynot.explain(Model().double().eval(), images, layer="pair")


def test_token_outputs_without_reshape(images):
    with pytest.raises(ValueError, match=r"2-D activations \(17, 6\).*reshape=whynot.explainers.token_grid"):
        whynot.explain(TinyViT().double().eval(), images, layer="block")


def test_an_integrated_gradients_baseline_of_the_wrong_shape(model, images):
    with pytest.raises(ValueError, match="baseline of shape \\(2,\\) does not broadcast"):
        whynot.explain(model, images, method="integrated_gradients", baseline=torch.zeros(2))
