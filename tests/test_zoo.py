"""The model zoo: torchvision name table, offline errors, local and legacy checkpoints, load_model."""
from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn
from torchvision import models

from whynot.models import pretrained as tv
from whynot.models.common import CheckpointError
from whynot.models.zoo import available_models, load_model, model_mean



def meta_net(name: str) -> nn.Module:
    """The architecture on the meta device: no memory, no initialisation, milliseconds."""
    with torch.device("meta"):
        return tv.build_architecture(name)


def test_table_covers_the_papers_models():
    assert set(tv.PRETRAINED_MODELS) == {"vgg16_bn", "vit_b_16", *tv.PGD_MODELS, *tv.GROUPCAM_MODELS}
    assert len(tv.PGD_MODELS) == 9


@pytest.mark.parametrize("name", tv.PRETRAINED_MODELS)
def test_every_name_builds_with_a_valid_default_layer_and_meta(name):
    net = meta_net(name)
    model = tv.wrap_torchvision(name, net)
    meta = model.whynot_meta
    size = meta["input_size"]
    assert len(meta["class_names"]) == 1000 and meta["mean"] == pytest.approx((0.485, 0.456, 0.406))
    maps = {}
    if meta["default_layer"] is not None:
        layer = model.get_submodule(meta["default_layer"])
        layer.register_forward_hook(lambda module, inputs, output: maps.setdefault("out", output))
    logits = net.eval()(torch.empty(1, 3, size, size, device="meta"))
    assert logits.shape == (1, 1000)
    if name == "vit_b_16":
        assert meta["default_layer"] is None
    else:  # a spatial feature map of the last stage (1/16 or 1/32 of the input, 7 to 14 wide)
        assert maps["out"].ndim == 4 and 7 <= maps["out"].shape[-1] <= 14


def test_authors_layers_and_input_sizes():
    assert tv.wrap_torchvision("vgg16_bn", meta_net("vgg16_bn")).whynot_meta["default_layer"] == "net.features.40"
    assert isinstance(meta_net("vgg16_bn").features[40], nn.Conv2d)
    assert tv.wrap_torchvision("alexnet", meta_net("alexnet")).whynot_meta["default_layer"] == "net.features.10"
    assert isinstance(meta_net("vgg19").features[36], nn.MaxPool2d)  # Group-CAM's target_layer
    assert tv.wrap_torchvision("efficientnet_b1", meta_net("efficientnet_b1")).whynot_meta["input_size"] == 240


def test_offline_download_error_says_what_from_where_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    expected_file = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert tv.hub_checkpoint_path("resnet18") == expected_file
    with pytest.raises(tv.WeightsUnavailableError) as caught:
        tv.pretrained_model("resnet18")
    message = str(caught.value)
    assert "resnet18 weights" in message and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert str(expected_file) in message and "weights_path=" in message and "TORCH_HOME" in message
    assert not expected_file.exists()


def test_local_state_dict_loads_exactly(tmp_path):
    torch.manual_seed(0)
    net = models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(net.state_dict(), path)
    model = tv.pretrained_model("resnet18", weights_path=path)
    for key, value in net.state_dict().items():
        assert torch.equal(model.net.state_dict()[key], value), key
    assert model.whynot_meta["default_layer"] == "net.layer4" and not model.training


def test_legacy_checkpoint_without_batchnorm_counters_loads(tmp_path):
    net = models.mobilenet_v3_small()
    legacy = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(legacy, tmp_path / "old.pth")
    model = tv.pretrained_model("mobilenet_v3_small", weights_path=tmp_path / "old.pth")
    torch.testing.assert_close(model.net.features[0][0].weight, net.features[0][0].weight)


def test_googlenet_checkpoint_with_auxiliary_heads_loads(tmp_path):
    net = models.GoogLeNet(aux_logits=True, transform_input=True, init_weights=False)
    torch.save(net.state_dict(), tmp_path / "googlenet.pth")
    model = tv.pretrained_model("googlenet", weights_path=tmp_path / "googlenet.pth")
    assert model.net.aux1 is None and model.net.transform_input
    torch.testing.assert_close(model.net.fc.weight, net.fc.weight)


@pytest.mark.parametrize("name, current, legacy", [
    ("densenet161", "denselayer1.norm1.weight", "denselayer1.norm.1.weight"),
    ("densenet161", "denselayer24.conv2.weight", "denselayer24.conv.2.weight"),
    ("vit_b_16", "mlp.0.weight", "mlp.linear_1.weight"),
    ("vit_b_16", "mlp.3.bias", "mlp.linear_2.bias"),
])
def test_legacy_key_names_are_upgraded(name, current, legacy):
    net = meta_net(name)
    expected = net.state_dict()
    old = {k.replace(current, legacy): v for k, v in expected.items()}
    assert old.keys() != expected.keys()
    assert list(tv.upgrade_legacy_state_dict(old, net)) == list(expected)


def test_mismatched_or_corrupt_local_file_raises_checkpoint_error(tmp_path):
    torch.save(models.resnet18().state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(CheckpointError, match="resnet18.pth does not match"):
        tv.pretrained_model("mobilenet_v3_small", weights_path=tmp_path / "resnet18.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        tv.pretrained_model("resnet18", weights_path=tmp_path / "garbage.pth")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tv.pretrained_model("resnet18", weights_path=tmp_path / "missing.pth")


def test_unknown_torchvision_name_lists_the_table():
    with pytest.raises(KeyError, match="choose one of.*vgg16_bn"):
        tv.pretrained_model("resnet1000")


def test_load_model_dispatches_efficientnet_and_knows_its_mean():
    model = load_model("efficientnet_lite0", device="cpu")
    assert model.whynot_meta["name"] == "efficientnet_lite0" and not model.training
    mean = model_mean(model)
    assert mean.shape == (1, 3, 1, 1)
    torch.testing.assert_close(model.normalize(mean), torch.zeros(1, 3, 1, 1))  # normalises to zero


def test_a_file_put_in_the_hub_cache_is_used_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = models.mobilenet_v3_small()
    cached = tv.hub_checkpoint_path("mobilenet_v3_small")
    cached.parent.mkdir(parents=True)
    torch.save(net.state_dict(), cached)
    monkeypatch.setattr(torch.hub, "download_url_to_file", pytest.fail)
    model = load_model("mobilenet_v3_small")
    assert model.whynot_meta["name"] == "mobilenet_v3_small"
    torch.testing.assert_close(model.net.classifier[3].weight, net.classifier[3].weight)


def test_available_models_and_unknown_names():
    pytest.importorskip("whynot.models.small")
    from whynot.models.small import TRAINED_MODELS

    names = available_models()
    assert set(TRAINED_MODELS) | {"efficientnet_lite0", "efficientnet_lite2", "vgg16_bn", "vit_b_16"} <= set(names)
    with pytest.raises(KeyError, match="unknown model 'resnet1000'.*efficientnet_lite1.*densenet161"):
        load_model("resnet1000")


def test_load_model_dispatches_synthetic_models():
    small = pytest.importorskip("whynot.models.small")
    model = load_model(small.TRAINED_MODELS[0])
    assert model.whynot_meta["name"] == small.TRAINED_MODELS[0] and not model.training
