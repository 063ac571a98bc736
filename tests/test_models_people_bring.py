"""Models as people bring them: Hugging Face outputs and token layouts, tuples and dicts,
channels-last Swin and ConvNeXt layers, a model that expects normalised input, bad scaling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import whynot
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401
from whynot.explainers.hooks import token_grid

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")


def seeded(build, seed=0):
    torch.manual_seed(seed)
    return build().eval()


def hf_vit():
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=24,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        num_labels=4,
        id2label={0: "ant", 1: "bee", 2: "cat", 3: "dog"},
        label2id={"ant": 0, "bee": 1, "cat": 2, "dog": 3},
    )
    return seeded(lambda: transformers.ViTForImageClassification(config))


def hf_convnext():
    config = transformers.ConvNextConfig(
        hidden_sizes=[8, 12, 16, 24], depths=[1, 1, 1, 1], num_labels=4
    )
    return seeded(lambda: transformers.ConvNextForImageClassification(config))


class Returns(nn.Module):
    """tiny_cnn whose logits come back wrapped by ``pack``."""

    def __init__(self, pack):
        super().__init__()
        self.net, self.pack = tiny_cnn(), pack

    def forward(self, x):
        return self.pack(self.net(x))


def test_hugging_face_vit_tokens_are_read_from_the_model():
    model, images = hf_vit(), torch.rand(2, 3, 32, 32)
    run = whynot.explain(
        model, images, classes="cat", contrast="foil", foil="dog", return_explanation=True
    )
    assert run.layer.endswith("1.layernorm_before") and run.class_names == (
        "ant",
        "bee",
        "cat",
        "dog",
    )
    by_hand = whynot.explain(
        model,
        images,
        layer=run.layer,
        classes=2,
        contrast="foil",
        foil=3,
        reshape=token_grid(prefix_tokens=1, grid=(4, 4)),
        output=lambda out: out.logits,
    )
    torch.testing.assert_close(run.maps, by_hand)
    assert run.maps.abs().sum() > 0
    with pytest.raises(ValueError, match="Hugging Face ViT use a CAM"):
        whynot.explain(model, images, method="rollout")


def test_hugging_face_convnext_defaults_to_its_last_stage():
    model, images = hf_convnext(), torch.rand(2, 3, 64, 64)
    run = whynot.explain(model, images, topk=2, return_explanation=True)
    assert run.layer == "convnext.encoder.stages.3" and run.maps.shape == (2, 2, 64, 64)
    torch.testing.assert_close(run.probabilities, model(images).logits.softmax(dim=1))


@pytest.mark.parametrize(
    "pack, output",
    [
        (lambda y: (y, y.detach() * 0), None),
        (lambda y: {"logits": y, "features": y * 0}, None),
        (lambda y: {"scores": y, "features": y * 0}, "scores"),
        (lambda y: [y * 0, y], 1),
    ],
)
def test_tuple_and_dict_outputs(pack, output):
    model, images = Returns(pack).eval(), random_images()
    expected = whynot.explain(model.net, images, method="gradient", topk=2)
    got = whynot.explain(model, images, method="gradient", topk=2, output=output)
    torch.testing.assert_close(got, expected)


def test_an_output_without_logits_names_its_keys_and_the_fix():
    model = Returns(lambda y: {"scores": y, "features": y}).eval()
    with pytest.raises(
        ValueError,
        match=r"dict without 'logits' \(its keys are \['scores', 'features'\]\); pass output=",
    ):
        whynot.explain(model, random_images())
    with pytest.raises(ValueError, match="output='logit' is not in the model's dict output"):
        whynot.explain(model, random_images(), output="logit")


def small_swin_torchvision():
    from torchvision.models.swin_transformer import SwinTransformer

    return seeded(
        lambda: SwinTransformer(
            patch_size=[4, 4],
            embed_dim=16,
            depths=[1, 1, 1],
            num_heads=[1, 1, 1],
            window_size=[2, 2],
            num_classes=5,
        )
    )


def small_swin_timm():
    return seeded(
        lambda: timm.create_model(
            "swin_tiny_patch4_window7_224",
            pretrained=False,
            img_size=64,
            window_size=2,
            embed_dim=16,
            depths=(1, 1, 1),
            num_heads=(1, 1, 1),
            num_classes=5,
        )
    )


def small_convnext_torchvision():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    return seeded(
        lambda: ConvNeXt(
            [CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 1)], layer_scale=1.0, num_classes=5
        )
    )


def small_convnext_timm():
    return seeded(
        lambda: timm.create_model(
            "convnext_atto",
            pretrained=False,
            num_classes=5,
            dims=(8, 12, 16, 24),
            ls_init_value=1.0,
            conv_mlp=False,
        )
    )


CHANNELS_LAST = lambda a: a.permute(0, 3, 1, 2)  # noqa: E731


@pytest.mark.parametrize(
    "build, default, later, later_is_channels_last",
    [
        (small_swin_torchvision, "norm", "features.3", True),
        (small_swin_timm, "norm", "layers.1", True),
        (small_convnext_torchvision, "features", "features.1.0.block.3", True),
        (small_convnext_timm, "stages", "stages.2.blocks.0.mlp.fc1", True),
    ],
)
def test_swin_and_convnext_default_layers_and_channels_last_outputs(
    build, default, later, later_is_channels_last
):
    model, images = build(), torch.rand(2, 3, 64, 64)
    run = whynot.explain(model, images, topk=2, contrast=("logit", "max"), return_explanation=True)
    assert run.layer == default
    first = default == "norm"  # Swin's final norm is channels last; ConvNeXt's stages are not
    explicit = whynot.explain(
        model,
        images,
        topk=2,
        contrast=("logit", "max"),
        layer=default,
        reshape=CHANNELS_LAST if first else (lambda a: a),
    )
    for name in ("logit", "max"):
        torch.testing.assert_close(run.maps[name], explicit[name])
    read = whynot.explain(model, images, layer=later)
    explicit = whynot.explain(
        model, images, layer=later, reshape=CHANNELS_LAST if later_is_channels_last else None
    )
    scale = explicit.abs().amax()  # random weights give small maps: compare them at unit scale
    assert scale > 0
    torch.testing.assert_close(read / scale, explicit / scale)


def test_an_ambiguous_layout_is_refused_with_the_fix():
    class Cube(nn.Module):  # [B, 4, 4, 4] from a 16-pixel image: [C, h, w] and [h, w, C] both fit
        def __init__(self):
            super().__init__()
            self.pool, self.act, self.head = nn.AdaptiveAvgPool2d(4), nn.Tanh(), nn.Linear(64, 3)

        def forward(self, x):
            features = self.act(self.pool(x).repeat(1, 2, 1, 1)[:, :4])
            return self.head(features.flatten(1))

    model = seeded(Cube)
    with pytest.raises(ValueError, match=r"\(4, 4, 4\).*\[C, h, w\] or \[h, w, C\]; pass reshape="):
        whynot.explain(model, torch.rand(1, 3, 16, 16), layer="act")


def test_wrap_normalises_and_refuses_badly_scaled_images():
    net = tiny_cnn()
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    model = whynot.wrap(net, mean, std)
    images = random_images()
    normalised = (images - torch.tensor(mean, dtype=images.dtype).view(1, 3, 1, 1)) / torch.tensor(
        std, dtype=images.dtype
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(model(images), net(normalised))
    per_channel = whynot.explain(net, normalised, method="gradient", keep_channels=True)
    std_tensor = torch.tensor(std, dtype=images.dtype).view(1, 1, 3, 1, 1)
    torch.testing.assert_close(
        whynot.explain(model, images, method="gradient", keep_channels=True),
        per_channel / std_tensor,
    )  # chain rule through (x - mean) / std
    with pytest.raises(ValueError, match=r"look scaled 0-255: divide by 255"):
        whynot.explain(model, images * 255)
    with pytest.raises(ValueError, match="normalised already, and the model normalises them again"):
        whynot.explain(model, normalised)
    with pytest.warns(UserWarning, match="look scaled 0-255; divide by 255"):
        whynot.explain(net, images * 255)


@pytest.mark.parametrize(
    "shape, fix",
    [
        ((2, 1, 8, 8), r"greyscale: repeat the channel, images.expand\(-1, 3, -1, -1\)"),
        ((2, 4, 8, 8), r"RGBA: drop the alpha channel, images\[:, :3\]"),
        ((2, 8, 8, 3), r"channels last: use images.permute\(0, 3, 1, 2\)"),
    ],
)
def test_image_layout_errors_name_the_fix(shape, fix):
    with pytest.raises(ValueError, match=fix):
        whynot.explain(tiny_cnn(), torch.rand(shape, dtype=torch.float64))


def test_float64_images_are_cast_to_the_model_dtype():
    model = tiny_cnn(dtype=torch.float32)
    images = random_images(dtype=torch.float64)
    maps = whynot.explain(model, images)
    assert maps.dtype == torch.float32
    torch.testing.assert_close(maps, whynot.explain(model, images.float()))


def test_a_zero_initialised_head_is_warned_about():
    model = tiny_cnn()
    nn.init.zeros_(model[-1].weight)
    nn.init.zeros_(model[-1].bias)
    with pytest.warns(
        UserWarning, match="every gradcam map is zero: the logits are equal for every class"
    ):
        whynot.explain(model, random_images())


def test_imagenet_names_for_torchvision_and_timm_classifiers():
    import torchvision

    from whynot.data.imagenet import IMAGENET_CLASSES
    from whynot.explainers.model_io import class_names

    assert class_names(torchvision.models.resnet18()) == IMAGENET_CLASSES
    assert class_names(timm.create_model("resnet10t", pretrained=False)) == IMAGENET_CLASSES
    assert class_names(torchvision.models.resnet18(num_classes=10)) is None
    model, images = torchvision.models.resnet18().eval(), torch.rand(1, 3, 64, 64)
    by_name = whynot.explain(model, images, method="gradient", classes="tabby")
    by_index = whynot.explain(
        model, images, method="gradient", classes=IMAGENET_CLASSES.index("tabby")
    )
    torch.testing.assert_close(by_name, by_index, rtol=0, atol=0)
