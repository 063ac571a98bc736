"""Gradient-sign perturbation (whynot.experiments.pgd): closed forms on linear models, the
contrasts at the current iterate, batching, the eps-box, the model's state, the summary and the plans.

The update under test, per contrast with input gradient phi_t and N steps:
x^{n+1} = clamp(x^n + (eps / N) sign(phi_t(x^n)), max(x^0 - eps, 0), min(x^0 + eps, 1)).
"""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401
from whynot.experiments import images as loader
from whynot.experiments import pgd
from whynot.experiments.pgd import CONTRASTS, perturb, summarize, target_scores
from whynot.experiments.theory import linear_image_model

SHAPE = (3, 2, 2)  # 12 pixels: vec(x) is channel-major, as Flatten reads it


def box(x0: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The eps-box intersected with [0, 1], written as in the paper's corrected update."""
    return (x0 - eps).clamp(min=0), (x0 + eps).clamp(max=1)


# --- closed forms on a linear model: the gradient is a constant direction ----------------------
# Image 0 (target 0): dyadic pixels at and near 0 and 1; the signs of w_0 push 1/64 down to 0,
# 63/64 up to 1, 0 up, 1 down, and 0 down / 1 up against the [0, 1] walls (they must not move).
X0_FIRST = [0, 1 / 64, 63 / 64, 1, 1 / 2, 1 / 4, 3 / 4, 1 / 8, 0, 1, 1 / 64, 63 / 64]
SIGNS_FIRST = [1, -1, 1, -1, 1, -1, 1, -1, -1, 1, 1, -1]
# eps = 1/8: min(x0 + eps, 1) where the sign is +, max(x0 - eps, 0) where it is -
HAND_FIRST = [1 / 8, 0, 1, 7 / 8, 5 / 8, 1 / 8, 7 / 8, 0, 0, 1, 9 / 64, 55 / 64]


def linear_case(dtype=torch.float64):
    """W [12, 3] with w_0 = SIGNS_FIRST * (1 + u) (|others| < 1/2, so the logit and mean directions of
    target 0 both have these signs), a generic second image with target 1, zero bias."""
    generator = torch.Generator().manual_seed(0)
    weight = (torch.rand(12, 3, generator=generator, dtype=torch.float64) - 0.5) * 0.9
    weight[:, 0] = torch.tensor(SIGNS_FIRST, dtype=torch.float64) * (1 + weight[:, 0].abs())
    images = torch.stack([torch.tensor(X0_FIRST, dtype=torch.float64),
                          torch.rand(12, generator=generator, dtype=torch.float64)]).view(2, *SHAPE)
    model = linear_image_model(weight.to(dtype), torch.zeros(3, dtype=dtype), SHAPE)
    return model, images.to(dtype), weight.to(dtype), torch.tensor([0, 1])


def hand_direction(weight: torch.Tensor, target: int, contrast: str) -> torch.Tensor:
    others = [s for s in range(weight.shape[1]) if s != target]
    if contrast == "logit":
        return weight[:, target]
    return weight[:, target] - weight[:, others].mean(dim=1)  # mean: e_t - (1 - e_t) / (c - 1)


@pytest.mark.parametrize("contrast", ["logit", "mean"])
@pytest.mark.parametrize("steps", [1, 2, 10])
def test_linear_model_closed_form(contrast, steps):
    """Constant gradient: N steps of eps / N end at the box corner clamp(x0 + eps sign(g))."""
    model, images, weight, classes = linear_case()
    eps = 1 / 8
    result = perturb(model, images, classes, contrast, eps=eps, steps=steps)
    for b, t in enumerate(classes.tolist()):
        g = hand_direction(weight, t, contrast)
        assert g.abs().min() > 1e-3  # no sign ties
        x0 = images[b].flatten()
        expected = torch.where(g > 0, (x0 + eps).clamp(max=1), (x0 - eps).clamp(min=0))
        torch.testing.assert_close(result[b].flatten(), expected, rtol=0, atol=1e-12)
    # image 0 is the hand-computed one: the [0, 1] walls decide 4 of its 12 pixels
    torch.testing.assert_close(result[0].flatten(), torch.tensor(HAND_FIRST, dtype=torch.float64),
                               rtol=0, atol=1e-12)


def test_max_contrast_follows_the_strongest_other_class_of_the_current_iterate():
    """w_1 = s, w_2 = -s: stepping towards y_0 - y_1 (sign(w_0 - w_1) = -s) lowers y_1 - y_2 by
    2 h |s|_1 = 1.5, so s* switches from 1 to 2 after the first step and the second step goes back
    up (sign(w_0 - w_2) = +s). With s* frozen at x^0 both steps would go down."""
    generator = torch.Generator().manual_seed(1)
    s = torch.tensor(SIGNS_FIRST, dtype=torch.float64)
    weight = torch.stack([(torch.rand(12, generator=generator, dtype=torch.float64) - 0.5) * 0.5, s, -s], dim=1)
    x0 = torch.tensor(X0_FIRST, dtype=torch.float64)
    bias = torch.tensor([0.0, 0.5 - 2 * float(s @ x0), 0.0], dtype=torch.float64)  # y_1 - y_2 = 0.5 at x0
    model = linear_image_model(weight, bias, SHAPE)
    image = x0.view(1, *SHAPE)
    eps, h = 1 / 8, 1 / 16  # dyadic: every value below is exact
    lower, upper = box(x0, eps)

    def logits(x):
        return x @ weight + bias

    x1 = torch.minimum(torch.maximum(x0 + h * (weight[:, 0] - weight[:, 1]).sign(), lower), upper)
    assert logits(x0)[1] > logits(x0)[2] and logits(x1)[2] > logits(x1)[1]  # s* really switches
    x2 = torch.minimum(torch.maximum(x1 + h * (weight[:, 0] - weight[:, 2]).sign(), lower), upper)
    frozen = torch.minimum(torch.maximum(x1 + h * (weight[:, 0] - weight[:, 1]).sign(), lower), upper)
    assert not torch.equal(x2, frozen)

    assert torch.equal(perturb(model, image, 0, "max", eps=eps / 2, steps=1).flatten(), x1)
    assert torch.equal(perturb(model, image, 0, "max", eps=eps, steps=2).flatten(), x2)
    # pixel 10 (1/64) went down to the 0 wall, then up by h; pixel 4 (1/2) went down and back
    assert x2[10].item() == 1 / 16 and x2[4].item() == 1 / 2 and frozen[4].item() == 3 / 8


# --- weighted: the sign of grad p_t, without its vanishing factor ------------------------------
def test_weighted_step_has_the_sign_of_the_gradient_of_the_target_probability():
    model = tiny_cnn()
    images = 0.02 + 0.96 * random_images(batch=3, size=8, seed=4)  # away from the [0, 1] walls
    classes = torch.tensor([3, 0, 0])  # p_t = 0.996, 0.003, 0.016
    eps = 0.01
    x = images.clone().requires_grad_(True)
    p = model(x).softmax(dim=1)
    p_t = p[torch.arange(3), classes]
    assert (p_t * (1 - p_t) > 1e-3).all()  # grad p_t is far from vanishing
    (gradient,) = torch.autograd.grad(p_t.sum(), x)  # eval mode: image b's p_t sees only image b
    steps = perturb(model, images, classes, ("weighted", "logit"), eps=eps, steps=1)
    moved = (steps["weighted"] - images).sign()
    clear = gradient.abs() > 1e-9 * gradient.abs().amax(dim=(1, 2, 3), keepdim=True)
    assert clear.float().mean() > 0.5
    assert torch.equal(moved[clear], gradient.sign()[clear])
    # and it is not the logit's step (else this test could not tell them apart)
    assert not torch.equal(moved, (steps["logit"] - images).sign())
    torch.testing.assert_close((steps["weighted"] - images).abs()[clear],
                               torch.full_like(images, eps)[clear], rtol=0, atol=1e-12)


def test_weighted_still_moves_where_the_target_probability_rounds_to_one_in_float32():
    """A near one-hot float32 model: p_t == 1 and every other p_s == 0, so grad p_t is exactly 0,
    but the weighted contrast w_t - sum_s alpha_s w_s (alpha over the other logits) is not."""
    generator = torch.Generator().manual_seed(2)
    weight = torch.randn(12, 4, generator=generator, dtype=torch.float64)
    bias = torch.tensor([200.0, 0.0, 1.0, -1.0], dtype=torch.float64)
    model = linear_image_model(weight.float(), bias.float(), SHAPE)
    eps = 1 / 128
    image = (0.1 + 0.8 * torch.rand(1, *SHAPE, generator=generator)).float()
    x = image.clone().requires_grad_(True)
    p_t = model(x).softmax(dim=1)[0, 0]
    (gradient,) = torch.autograd.grad(p_t, x)
    assert p_t.item() == 1.0 and torch.count_nonzero(gradient) == 0

    logits = image.double().flatten() @ weight + bias
    alpha = logits[1:].softmax(dim=0)
    direction = weight[:, 0] - weight[:, 1:] @ alpha
    assert direction.abs().min() > 1e-3
    expected = torch.where(direction > 0, image.flatten() + eps, image.flatten() - eps)
    result = perturb(model, image, 0, "weighted", eps=eps, steps=1)
    assert result.dtype == torch.float32
    assert torch.equal(result.flatten(), expected)


# --- batching: all images and contrasts at once = one at a time, written out plainly -----------
def naive_perturb(model, image, target: int, contrast: str, eps: float, steps: int) -> torch.Tensor:
    """One image, one contrast: the contrast written as a scalar score, autograd, sign step, clamp."""
    lower, upper = box(image, eps)
    x = image.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        y = model(x)[0]
        others = torch.tensor([s for s in range(y.shape[0]) if s != target])
        if contrast == "logit":
            score = y[target]
        elif contrast == "mean":
            score = y[target] - y[others].mean()
        elif contrast == "max":
            score = y[target] - y[others].max()  # s* of this iterate
        else:  # weighted, Eq. 1, alpha held fixed at this iterate
            alpha = y[others].detach().softmax(dim=0)
            score = y[target] - (alpha * y[others]).sum()
        (gradient,) = torch.autograd.grad(score, x)
        x = torch.minimum(torch.maximum(x.detach() + eps / steps * gradient.sign(), lower), upper)
    return x


def test_batched_over_images_and_contrasts_equals_one_at_a_time():
    model = tiny_cnn(seed=5)
    images = random_images(batch=3, size=8, seed=6)
    images[0, 0, :2] = 0.0  # some pixels on the walls
    images[1, 2, -2:] = 1.0
    classes = [4, 0, 2]
    eps, steps = 0.05, 3
    batched = perturb(model, images, classes, CONTRASTS, eps=eps, steps=steps)
    assert list(batched) == list(CONTRASTS)
    for contrast in CONTRASTS:
        for b, t in enumerate(classes):
            expected = naive_perturb(model, images[b : b + 1], t, contrast, eps, steps)
            torch.testing.assert_close(batched[contrast][b : b + 1], expected, rtol=0, atol=1e-12)
    # the four contrasts really differ here (else the comparison could not catch a mix-up)
    for a in range(len(CONTRASTS)):
        for c in range(a + 1, len(CONTRASTS)):
            assert not torch.equal(batched[CONTRASTS[a]], batched[CONTRASTS[c]])


def test_float32_batched_equals_one_at_a_time_up_to_sign_round_off():
    model = tiny_cnn(seed=5, dtype=torch.float32)
    images = random_images(batch=3, size=8, seed=6, dtype=torch.float32)
    classes = [4, 0, 2]
    batched = perturb(model, images, classes, CONTRASTS, eps=0.05, steps=2)
    for contrast in CONTRASTS:
        single = torch.cat([perturb(model, images[b : b + 1], [t], contrast, eps=0.05, steps=2)
                            for b, t in enumerate(classes)])
        close = torch.isclose(batched[contrast], single, rtol=0, atol=1e-6)
        assert close.float().mean() > 0.99, contrast  # a near-zero gradient may flip its sign


# --- the box, the return types, the inputs ---------------------------------------------------
@pytest.mark.parametrize("eps, steps", [(0.03, 1), (0.1, 4), (1.0, 2)])
def test_outputs_stay_in_the_eps_box_and_in_the_unit_interval(eps, steps):
    model = tiny_cnn(seed=7)
    images = random_images(batch=2, size=8, seed=8)
    images[0, :, 0] = 0.0
    images[1, :, -1] = 1.0
    images[1, 0, 3] = 0.01
    before = images.clone()
    result = perturb(model, images, [1, 2], CONTRASTS, eps=eps, steps=steps)
    lower, upper = box(images, eps)
    for contrast, x in result.items():
        assert x.shape == images.shape and x.dtype == images.dtype and not x.requires_grad
        assert (x >= lower).all() and (x <= upper).all(), contrast
        assert (x >= 0).all() and (x <= 1).all(), contrast
        assert (x != images).any(), contrast
    assert torch.equal(images, before) and not images.requires_grad


def test_a_contrast_name_returns_a_tensor_and_a_sequence_a_dict():
    model = tiny_cnn()
    images = random_images()
    single = perturb(model, images, [0, 1], "max", eps=0.02, steps=2)
    several = perturb(model, images, [0, 1], ["max", "logit"], eps=0.02, steps=2)
    assert isinstance(single, torch.Tensor)
    assert isinstance(several, dict) and list(several) == ["max", "logit"]
    torch.testing.assert_close(several["max"], single, rtol=0, atol=1e-12)
    one = perturb(model, images, [0, 1], ("mean",), eps=0.02)
    assert isinstance(one, dict) and list(one) == ["mean"]


# --- the model's state and bad arguments ------------------------------------------------------
def test_mode_and_requires_grad_come_back_after_success_and_failure():
    model = tiny_cnn()
    model[0].weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    assert any(flags) and not all(flags)
    perturb(model, random_images(), [0, 1], CONTRASTS, eps=0.01, steps=2)
    assert not model.training and [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="out of range"):
        perturb(model, random_images(), [0, 9], CONTRASTS, eps=0.01, steps=2)  # raised inside the loop
    assert not model.training and [p.requires_grad for p in model.parameters()] == flags


def test_a_model_in_training_mode_is_refused_and_left_as_it_is():
    model = tiny_cnn().train()
    with pytest.raises(ValueError, match="eval"):
        perturb(model, random_images(), [0, 1], "logit")
    assert model.training and all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": 0}, "eps must be"), ({"eps": -0.1}, "eps must be"), ({"eps": 1.5}, "eps must be"),
    ({"eps": "0.1"}, "eps must be"), ({"eps": True}, "eps must be"),
    ({"steps": 0}, "steps must be"), ({"steps": 1.5}, "steps must be"), ({"steps": True}, "steps must be"),
    ({"classes": [[0, 1], [1, 2]]}, "one target class per image"),
    ({"contrast": "softmx"}, "valid contrasts"), ({"contrast": ()}, "valid contrasts"),
])
def test_bad_arguments_raise_value_errors_that_say_what_to_do(kwargs, message):
    arguments = {"classes": [0, 1], "contrast": CONTRASTS, "eps": 0.01, "steps": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        perturb(tiny_cnn(), random_images(), **arguments)


def test_pixels_outside_the_unit_interval_are_refused():
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        perturb(tiny_cnn(), random_images() * 255, [0, 1], "logit")


# --- scores and the summary -------------------------------------------------------------------
def test_target_scores_by_hand():
    weight = torch.zeros(12, 3, dtype=torch.float64)
    model = linear_image_model(weight, torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64), SHAPE)
    scores = target_scores(model, torch.zeros(2, *SHAPE, dtype=torch.float64), torch.tensor([1, 2]))
    total = math.e + math.e**2 + 1
    torch.testing.assert_close(scores["y_t"], torch.tensor([2.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(scores["p_t"], torch.tensor([math.e**2 / total, 1 / total], dtype=torch.float64))
    assert scores["hit"].tolist() == [True, False]


def test_summarize_gives_hand_computed_means_and_confidence_half_widths():
    # group "logit": changes y_t (1, 2, 3), p_t (1/4, 0, 1/2), hit (0, +1, -1); rows interleaved
    # with group "max": changes y_t (-1, 1), p_t (0, 0), hit (0, 0)
    table = pd.DataFrame({
        "model": "m", "eps": 0.5, "iterations": 1,
        "contrast": ["logit", "max", "logit", "max", "logit"],
        "y_t_before": [0.0, 5.0, 1.0, 5.0, 2.0], "y_t_after": [1.0, 4.0, 3.0, 6.0, 5.0],
        "p_t_before": [0.5, 0.25, 0.5, 0.25, 0.5], "p_t_after": [0.75, 0.25, 0.5, 0.25, 1.0],
        "hit_before": [True, True, False, False, True], "hit_after": [True, True, True, False, False],
    })
    summary = summarize(table).set_index("contrast")
    assert list(summary.index) == ["logit", "max"]
    logit, other = summary.loc["logit"], summary.loc["max"]
    half = 1.96 / math.sqrt(3)
    expected = {"y_t": 2.0, "y_t_ci": 1.0 * half, "p_t": 0.25, "p_t_ci": 0.25 * half,
                "accuracy": 0.0, "accuracy_ci": 1.0 * half, "images": 3, "accuracy_before": 2 / 3}
    for column, value in expected.items():
        assert logit[column] == pytest.approx(value, rel=1e-12), column
    # max: y_t changes (-1, 1): mean 0, std sqrt(2); no p_t or accuracy change
    assert other["y_t"] == 0 and other["y_t_ci"] == pytest.approx(1.96 * math.sqrt(2) / math.sqrt(2))
    assert other["p_t"] == other["p_t_ci"] == other["accuracy"] == other["accuracy_ci"] == 0
    assert other["images"] == 2 and other["accuracy_before"] == 0.5
    assert (summary["model"] == "m").all() and (summary["eps"] == 0.5).all()


# --- the experiment's plans and one real batch ----------------------------------------------
@pytest.mark.parametrize("profile", sorted(pgd.PLANS))
def test_batches_never_mix_models_and_cover_every_image_once(profile):
    for options in ({}, {"batch_size": 5, "n_images": 12}):
        exp = pgd.experiment(profile, **options)
        chosen = exp.config["models"]
        assert [m for m, _, _ in chosen] == [m for m, _, _ in pgd.PLANS[profile]["models"]]
        for model, data, n in chosen:
            if options:
                assert n == min(12, dict((m, k) for m, _, k in pgd.PLANS[profile]["models"])[model])
            mine = [b for b in exp.batches if b["model"] == model]
            assert all(b["data"] == data for b in mine)
            covered = [i for b in mine for i in range(b["start"], b["stop"])]
            assert covered == list(range(n))  # in order, once each
            size = options.get("batch_size", pgd.PLANS[profile]["batch_size"])
            assert all(0 < b["stop"] - b["start"] <= size for b in mine)
        assert set(b["model"] for b in exp.batches) == {m for m, _, _ in chosen}


def test_experiment_restricts_to_models_and_names_bad_choices():
    exp = pgd.experiment("smoke", models=["efficientnet_lite0"])
    assert [b["model"] for b in exp.batches] == ["efficientnet_lite0"]
    with pytest.raises(ValueError, match="unknown profile"):
        pgd.experiment("tiny")
    with pytest.raises(ValueError, match="smoke plan"):
        pgd.experiment("smoke", models=["resnet18"])


@pytest.mark.slow
def test_run_batch_on_the_smoke_plan_gives_one_row_per_image_eps_iteration_and_contrast():
    exp = pgd.experiment("smoke")
    batch = exp.batches[0]
    assert batch["model"] == "synth_vgg" and batch["data"] == "synthbirds"
    table = exp.run_batch(batch, torch.device("cpu"))
    n = batch["stop"] - batch["start"]
    assert list(table.columns) == [
        "model", "data", "image", "target_is", "target", "eps", "iterations", "contrast",
        "y_t_before", "p_t_before", "hit_before", "y_t_after", "p_t_after", "hit_after"]
    assert len(table) == n * len(pgd.EPSILONS) * len(pgd.ITERATIONS) * len(CONTRASTS)
    assert not table.duplicated(["image", "eps", "iterations", "contrast"]).any()
    assert set(table.image) == set(range(batch["start"], batch["stop"]))
    assert set(table.eps) == set(pgd.EPSILONS) and set(table.iterations) == set(pgd.ITERATIONS)
    assert set(table.contrast) == set(CONTRASTS)
    assert (table.model == "synth_vgg").all() and (table.target_is == "label").all()
    labels = loader.load_images("synthbirds", None, 0, batch["start"], batch["stop"])[1]
    assert (table.groupby("image").target.first().to_numpy() == labels.numpy()).all()
    # the "before" scores do not depend on the condition; every perturbation raises y_t
    assert (table.groupby("image")[["y_t_before", "p_t_before"]].nunique() == 1).all().all()
    assert (table.y_t_after > table.y_t_before).all()


def test_run_batch_numbers_images_from_the_batch_start():
    exp = pgd.experiment("smoke", models=["synth_vgg"], batch_size=6)
    assert [(b["start"], b["stop"]) for b in exp.batches] == [(0, 6), (6, 8)]
    table = exp.run_batch(exp.batches[1], torch.device("cpu"))
    assert sorted(set(table.image)) == [6, 7] and len(table) == 2 * 2 * 3 * 4
    labels = loader.load_images("synthbirds", None, 0, 0, 8)[1]
    assert table.groupby("image").target.first().tolist() == labels[6:].tolist()


def test_imagenet_images_come_in_a_seeded_order_from_the_folder_in_the_environment(tmp_path, monkeypatch):
    from fixtures_real import make_fake_imagenet_val

    root = make_fake_imagenet_val(tmp_path / "val", ("n01440764", "n07920052"))
    model = torch.nn.Identity()
    model.whynot_meta = {"input_size": 32}
    monkeypatch.delenv(loader.IMAGENET_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=loader.IMAGENET_ENV):
        loader.load_images("imagenet", model, 0, 0, 2)
    monkeypatch.setenv(loader.IMAGENET_ENV, str(root))
    images, labels = loader.load_images("imagenet", model, 0, 0, 4)
    assert images.shape == (4, 3, 32, 32) and sorted(labels.tolist()) == [0, 0, 967, 967]
    order = torch.randperm(4, generator=torch.Generator().manual_seed(0)).tolist()
    assert labels.tolist() == [[0, 0, 967, 967][i] for i in order]
    head, _ = loader.load_images("imagenet", model, 0, 1, 3)
    assert torch.equal(head, images[1:3])
    with pytest.raises(ValueError, match="holds 4 images, fewer than this plan's 5"):
        loader.load_images("imagenet", model, 0, 0, 5)


def test_the_store_configuration_names_the_weights_and_the_data_version(monkeypatch):
    from whynot.data import synthetic
    from whynot.experiments import pgd

    config = pgd.experiment("smoke").config
    assert set(config["weights"]) == {"synth_vgg", "efficientnet_lite0"}
    assert len(config["weights"]["synth_vgg"]) == 16 and config["weights"]["efficientnet_lite0"] == "efficientnet_lite0"
    assert config["synthbirds_version"] == synthetic.VERSION
    monkeypatch.setattr(synthetic, "VERSION", synthetic.VERSION + 1)
    assert pgd.experiment("smoke").config["synthbirds_version"] == synthetic.VERSION


def test_retrained_weights_give_another_store(tmp_path, monkeypatch):
    from whynot.experiments import pgd, runner
    from whynot.models import small

    before = runner.store_path(pgd.experiment("smoke"))
    retrained = tmp_path / "synth_vgg.pt"
    retrained.write_bytes(small.checkpoint_path("synth_vgg").read_bytes() + b"retrained")
    monkeypatch.setattr(small, "checkpoint_path", lambda name: retrained)
    assert runner.store_path(pgd.experiment("smoke")) != before


# --- the claims (whynot.claims.ch02), on hand-made tables ---------------------------------------

def claim_table(changes: dict[str, list[float]], metric: str = "p_t", iterations: int = 1,
                eps: float = 0.5) -> pd.DataFrame:
    """One setting: per contrast, the per-image change of ``metric`` (the others do not move)."""
    rows = []
    for contrast, values in changes.items():
        for image, value in enumerate(values):
            row = {"model": "m", "data": "d", "image": image, "eps": eps, "iterations": iterations,
                   "contrast": contrast, "y_t_before": 0.0, "y_t_after": 0.0, "p_t_before": 0.0,
                   "p_t_after": 0.0, "hit_before": False, "hit_after": False}
            if metric == "accuracy":
                row["hit_before"], row["hit_after"] = value < 0, value > 0
            else:
                row[f"{metric}_after"] = value
            rows.append(row)
    return pd.DataFrame(rows)


def test_weighted_wins_ties_and_loses_by_the_interval_of_its_margin_over_the_best_other():
    others = {"logit": [0.0] * 4, "mean": [0.0] * 4}
    win = claim_table({**others, "max": [0.1] * 4, "weighted": [0.3, 0.4, 0.3, 0.4]})
    tie = claim_table({**others, "max": [0.3] * 4, "weighted": [0.3] * 4}, iterations=2)
    lose = claim_table({**others, "max": [0.5] * 4, "weighted": [0.1, 0.2, 0.1, 0.2]},
                       iterations=10)
    margins = pgd.weighted_margins(pd.concat([win, tie, lose]), "p_t")
    assert margins.best_other.tolist() == ["max"] * 3
    assert margins.margin.tolist() == pytest.approx([0.25, 0.0, -0.35])
    assert margins.outcome.tolist() == ["wins", "ties", "loses"]
    assert pgd.outcome_counts(margins) == {"wins": 1, "ties": 1, "loses": 1}
    summary = summarize(pd.concat([win, tie, lose]))
    record = pgd.weighted_best_record("p_t", margins, summary)
    assert (record.claim, record.verdict, record.n) == ("wang-fig3-weighted-pt", "partly holds", 3)
    assert "wins 1, ties 1" in record.why and "loses 1 of 3" in record.why


def test_a_four_way_accuracy_tie_is_a_tie_and_the_claim_is_not_resolved():
    same = [1, 0, 1, 0]  # every contrast fixes the same two images
    table = claim_table({c: same for c in CONTRASTS}, metric="accuracy")
    margins = pgd.weighted_margins(table, "accuracy")
    assert margins.best_other.tolist() == ["logit"]  # the first among equals
    assert margins.outcome.tolist() == ["ties"]
    record = pgd.weighted_best_record("accuracy", margins, summarize(table))
    assert record.verdict == "not resolved"


def test_rank_agreement_by_hand_when_p_t_follows_the_accuracy_and_y_t_reverses_it():
    # 4 contrasts x 1 iteration; accuracy and p_t rise in one order, y_t in the opposite one
    order = {"logit": 0, "mean": 1, "max": 2, "weighted": 3}
    rows = []
    for contrast, rank in order.items():
        for image in range(6):
            hit = image < rank  # `rank` of the 6 images become hits
            rows.append({"model": "m", "data": "d", "image": image, "eps": 0.5, "iterations": 1,
                         "contrast": contrast, "hit_before": False, "hit_after": hit,
                         "p_t_before": 0.0, "p_t_after": 0.1 * rank + 0.01 * image,
                         "y_t_before": 0.0, "y_t_after": -1.0 * rank + 0.1 * image})
    table = pd.DataFrame(rows)
    agreement = pgd.rank_agreement(table, n_resamples=200)
    row = agreement.iloc[0]
    assert (row.rho_p, row.rho_y, row.difference) == pytest.approx((1.0, -1.0, 2.0))
    assert 0 < row.low <= row.high <= 2
    record = pgd.rank_agreement_record(agreement, summarize(table))
    assert record.verdict == "holds" and record.n == 1
    still = pd.DataFrame(rows).assign(hit_after=False)  # the accuracy never moves
    assert math.isnan(pgd.rank_agreement(still, n_resamples=50).difference.iloc[0])
    assert pgd.rank_agreement_record(pgd.rank_agreement(still, n_resamples=50),
                                     summarize(still)).verdict == "not resolved"


def test_reports_raise_record_counts_each_contrast_on_its_metric():
    table = pd.concat([claim_table({"weighted": [0.1, 0.2], "max": [0.1, 0.2],
                                    "logit": [0.0, 0.0], "mean": [0.0, 0.0]}),
                       claim_table({"weighted": [0.0, 0.0], "max": [0.0, 0.0],
                                    "logit": [1.0, 2.0], "mean": [1.0, 2.0]}, "y_t")])
    summary = summarize(table)  # one setting: the p_t and y_t rows average over both tables
    record = pgd.reports_raise_record(summary)
    # p_t of weighted/max: changes (0.1, 0.2, 0, 0) over 4 rows: interval covers 0, as the
    # accuracy (no change); y_t of logit/mean: (0, 0, 1, 2) likewise: nothing resolved
    assert record.n == 6 and record.verdict == "not resolved"
    rising = summarize(claim_table({c: [0.1, 0.2, 0.3] for c in CONTRASTS}))
    assert "a rise in 2" in pgd.reports_raise_record(rising).why  # weighted and max on p_t


def test_printed_update_collapses_the_iterations_and_leaves_the_unit_interval():
    model, images, weight, targets = linear_case()
    eps = 1 / 8
    one = pgd.printed_update(model, images, targets, "logit", eps, 1)
    ten = pgd.printed_update(model, images, targets, "logit", eps, 10)
    torch.testing.assert_close(ten, one)  # the gradient at x: N steps of eps/N are one step
    signs = torch.tensor(SIGNS_FIRST, dtype=torch.float64).view(SHAPE)
    torch.testing.assert_close(one[0], images[0] + eps * signs)  # no clamp binds
    assert one.min() < 0 and one.max() > 1
    record = pgd.printed_equation_record(model, images, targets, eps=eps)
    assert record.verdict == "holds" and record.n == 2


def test_eps_record_is_not_tested_and_says_how_the_ordering_compares():
    small = claim_table({"logit": [0.1], "mean": [0.1], "max": [0.2], "weighted": [0.3]},
                        eps=0.001)
    large = claim_table({"logit": [0.3], "mean": [0.3], "max": [0.9], "weighted": [0.6]},
                        eps=0.003)
    record = pgd.eps_record(summarize(pd.concat([small, large])))
    assert record.verdict == "not tested"
    assert "in 0 of 1" in record.why and "3.0-3.0x" in record.why  # 2.1 / 0.7 = 3
