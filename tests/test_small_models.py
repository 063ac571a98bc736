"""Our SynthBirds models: architecture contracts and checkpoint safety."""
import pytest
import torch

from whynot.models.common import CheckpointError, load_state_dict_strict
from whynot.models.small import ARCHITECTURES, build, checkpoint_path, load_trained


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_architecture_contract(name):
    model = build(name)
    meta = model.whynot_meta
    assert not model.training and meta["name"] == name and meta["input_size"] == 56
    logits = model(torch.rand(2, 3, 56, 56))
    assert logits.shape == (2, len(meta["class_names"]))
    if meta["default_layer"] is not None:
        assert meta["default_layer"] in dict(model.named_modules())


def test_vgg_explains_a_14x14_conv_before_its_last_max_pool():
    model = build("synth_vgg")
    modules = dict(model.named_modules())
    layer = modules[model.whynot_meta["default_layer"]]
    assert isinstance(layer, torch.nn.Conv2d)
    seen = {}
    handle = layer.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    model(torch.rand(1, 3, 56, 56))
    handle.remove()
    assert seen["shape"][-2:] == (14, 14)
    later = list(model.net.features)[list(model.net.features).index(layer):]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in later) == 1


def test_vit_exposes_attention_probabilities():
    model = build("synth_vit")
    seen = []
    handles = [b.attn.attn_probs.register_forward_hook(lambda m, i, o: seen.append(o)) for b in model.net.blocks]
    model(torch.rand(2, 3, 56, 56))
    for h in handles:
        h.remove()
    assert len(seen) == len(model.net.blocks)
    tokens = 1 + (56 // 8) ** 2
    assert seen[0].shape == (2, 4, tokens, tokens)
    torch.testing.assert_close(seen[0].sum(dim=-1), torch.ones(2, 4, tokens))


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(KeyError, match="synth_vgg"):
        load_trained("synth_alexnet")


def _checkpoint_copy(tmp_path, name="synth_vgg"):
    return torch.load(checkpoint_path(name), weights_only=True), tmp_path / f"{name}.pt"


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "synth_vgg.pt"
    path.write_bytes(checkpoint_path("synth_vgg").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_trained("synth_vgg", path=path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "synth_vgg.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a whynot checkpoint"):
        load_trained("synth_vgg", path=path)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    checkpoint, path = _checkpoint_copy(tmp_path, "synth_resnet")
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="holds 'synth_resnet'"):
        load_trained("synth_vgg", path=path)


def test_wrong_shapes_are_refused_and_nothing_is_loaded(tmp_path):
    checkpoint, _ = _checkpoint_copy(tmp_path)
    state = dict(checkpoint["state_dict"])
    state["net.classifier.3.weight"] = torch.zeros(5, 64)  # a head for 5 classes
    model = build("synth_vgg")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_state_dict_strict(model, state, "test")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} was overwritten"


def test_missing_checkpoint_says_how_to_rebuild(tmp_path):
    with pytest.raises(CheckpointError, match="python -m whynot.models.train"):
        load_trained("synth_vgg", path=tmp_path / "absent.pt")
