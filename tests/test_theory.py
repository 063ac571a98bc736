"""The theory chapter's numerical claims, checked on closed forms."""
import torch

from whynot.experiments.theory import prop1_trajectories, two_blobs


def test_prop1_softmax_difference_tracks_sigmoid_weights_exactly_at_half_the_rate():
    x, u = two_blobs(n=64, seed=3)
    traj = prop1_trajectories(x, u, lr=0.8, steps=200)
    torch.testing.assert_close(traj.w_diff, traj.w_sigmoid, rtol=0, atol=1e-12)
    torch.testing.assert_close(traj.loss_softmax, traj.loss_sigmoid, rtol=0, atol=1e-12)
    assert traj.loss_sigmoid[-1] < 0.6 * traj.loss_sigmoid[0]  # it did learn


def test_prop1_same_rate_moves_the_difference_twice_as_fast_on_the_first_step():
    x, u = two_blobs(n=64, seed=3)
    traj = prop1_trajectories(x, u, lr=0.1, steps=1, softmax_lr=0.1)
    torch.testing.assert_close(traj.w_diff[1], 2 * traj.w_sigmoid[1], rtol=0, atol=1e-12)


# --- claim records (whynot.experiments.theory) ---------------------------------------------------
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from whynot.experiments import theory  # noqa: E402


def test_identity_record_holds_below_the_tolerance_and_not_above_it():
    assert theory.identity_record("wang-prop2", 3e-7, 1e-4, "why").verdict == "holds"
    assert theory.identity_record("wang-prop2", 0.2, 1e-4, "why").verdict == "does not hold"
    assert theory.identity_record("wang-prop2", 0.99e-4, 1e-4, "why").verdict == "not resolved"


@pytest.mark.parametrize("low, high, verdict", [(3.2, 3.8, "holds"), (1.0, 1.2, "does not hold"),
                                                (2.5, 3.5, "not resolved"), (4.5, 5.0, "does not hold")])
def test_range_record(low, high, verdict):
    record = theory.range_record("reports-weight-factor", (low + high) / 2, low, high, (3, 4), "why")
    assert record.verdict == verdict


def test_softmax_jacobian_is_bounded_by_twice_one_minus_the_top_probability():
    logits = torch.randn(200, 7, dtype=torch.float64) * torch.linspace(0.1, 20, 200)[:, None]
    p = logits.softmax(1)
    norm = theory.softmax_jacobian(p).flatten(1).norm(dim=1)
    assert bool((norm <= 2 * (1 - p.max(1).values) + 1e-15).all())
    autograd = torch.autograd.functional.jacobian(lambda y: y.softmax(0), logits[0])
    torch.testing.assert_close(theory.softmax_jacobian(p[:1])[0], autograd)


def test_dominance_records_on_constructed_statistics():
    p_top1 = torch.linspace(0.4, 0.999, 50, dtype=torch.float64)
    rest = 1 - p_top1
    p = torch.stack([p_top1, rest * 0.7, rest * 0.3], dim=1)
    logits = torch.stack([torch.linspace(1, 9, 50)] * 3, dim=1) - torch.tensor([0.0, 1.0, 2.0])
    stats = {"p_top1": p_top1, "jacobian_norm": theory.softmax_jacobian(p).flatten(1).norm(dim=1),
             "logits": logits, "map_norms": logits.exp() * torch.tensor([3.5, 1.0, 0.4])}
    jacobian, trend, factor = theory.dominance_records(stats, "constructed", "none")
    assert (jacobian.verdict, trend.verdict) == ("holds", "holds")
    assert "50 of 50 images" in jacobian.why
    # top-1 / top-2 norm: 3.5 e^{y} / e^{y - 1} = 3.5 e on every image
    assert factor.verdict == "does not hold" and factor.effect == pytest.approx(3.5 * np.e)


def test_shift_records_hold_for_a_linear_model():
    gen = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(12, 5, generator=gen, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    image = torch.rand(1, 3, 2, 2, generator=gen, dtype=torch.float64)
    records = theory.shift_records(image, weight, bias, feature=3, delta=1.5)
    assert [r.verdict for r in records] == ["holds", "holds"]
    assert records[0].n == 5


def test_prop1_record_holds_at_half_rate_and_names_the_factor_of_two():
    x, u = theory.two_blobs(n=40)
    half, same = (theory.prop1_trajectories(x, u, lr=1.0, steps=20, softmax_lr=rate) for rate in (None, 1.0))
    record = theory.prop1_record(half, same)
    assert record.verdict == "holds" and "twice" in record.why
    assert theory.binary_explanation_record(x, half).verdict == "holds"
    assert theory.prop1_record(same, same).verdict == "does not hold"


def test_two_class_contrasts_are_the_logit_difference():
    images = torch.rand(2, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    error = theory.binary_contrast_error(theory.relu_cnn(seed=1, classes=2), images)
    assert theory.binary_contrast_record(error, n=2).verdict == "holds"


def test_single_pass_gradient_of_p_is_the_weighted_contrast():
    model = theory.relu_cnn(seed=2, classes=5)
    images = torch.rand(2, 3, 56, 56, generator=torch.Generator().manual_seed(2))
    assert theory.single_pass_error(model, images) < 1e-10


def test_proposition_records_split_gradient_from_the_other_rules():
    rows = [("m", "gradient", "input", 1e-7, 1e-7), ("m", "gradcam", "l", 3e-3, 1e-7)]
    prop2, prop3 = theory.proposition_records(rows)
    assert (prop2.claim, prop2.verdict, prop3.claim, prop3.verdict) == (
        "wang-prop2", "holds", "wang-prop3", "does not hold")


def test_equivalence_records_judge_deeplift_and_ig_on_homogeneous_networks_only():
    errors = {"biased": {"lrp": 1e-7, "deeplift": 0.7, "ig": 0.6, "la": 1e-7},
              "homogeneous": {"lrp": 1e-7, "deeplift": 1e-7, "ig": 1e-7, "la": 1e-7}}
    records = theory.equivalence_records(errors, {"biased": False, "homogeneous": True}, n=4)
    assert [r.verdict for r in records] == ["holds"] * 4
    assert "biased 0.70" in records[1].why
    errors["homogeneous"]["ig"] = 0.5
    records = theory.equivalence_records(errors, {"biased": False, "homogeneous": True}, n=4)
    assert records[2].verdict == "does not hold"


def test_equivalence_errors_on_a_small_relu_cnn():
    images = torch.rand(2, 3, 56, 56, generator=torch.Generator().manual_seed(3))
    errors = theory.equivalence_errors(theory.relu_cnn(seed=3, bias=False), images, layer=theory.RELU_CNN_LAYER, steps=4)
    assert max(errors.values()) < 1e-4
    errors = theory.equivalence_errors(theory.relu_cnn(seed=3), images, steps=4)
    assert errors["lrp"] < 1e-4 and errors["deeplift"] > 1e-2 and errors["ig"] > 1e-2


def test_library_default_record():
    assert theory.library_default_record({"captum": None}, 1, "m").verdict == "not tested"
    record = theory.library_default_record({"captum": (1e-7, 0.5), "torchcam": None}, 1, "m")
    assert record.verdict == "holds" and "not installed: torchcam" in record.why
    assert theory.library_default_record({"captum": (0.5, 1e-7)}, 1, "m").verdict == "does not hold"


def test_library_defaults_explain_the_logit_on_a_small_cnn():
    pytest.importorskip("captum")
    model = theory.relu_cnn(seed=4)
    model.whynot_meta = {"default_layer": theory.RELU_CNN_LAYER}
    images = torch.rand(2, 3, 56, 56, generator=torch.Generator().manual_seed(4))
    errors = theory.library_default_errors(model, images, steps=4)
    for library, found in errors.items():
        if found is not None:
            assert found[0] < 1e-4 < found[1], library


def test_gradcam_pp_records():
    zeros, ones = torch.zeros(20, dtype=torch.float64), torch.full((20,), 0.3, dtype=torch.float64)
    equal = {"a": {"Grad-CAM++ of p_t": zeros}}
    assert theory.gradcam_pp_records(equal, {"a": "d"}).verdict == "holds"
    both = {"a": {"Grad-CAM++ of p_t": zeros}, "b": {"Grad-CAM++ of p_t": ones}}
    assert theory.gradcam_pp_records(both, {"a": "d", "b": "d"}).verdict == "partly holds"


def test_cosine_distance_ignores_positive_scale():
    maps = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(theory.cosine_distance(maps, 5 * maps), torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(theory.cosine_distance(maps, -maps), torch.full((6,), 2.0, dtype=torch.float64))


def test_models_return_logits_record():
    logits = torch.randn(4, 5)
    record = theory.models_return_logits_record({"a": logits, "b": logits.softmax(1)}, "d")
    assert record.effect == 0.5 and record.verdict == "not resolved"
    assert theory.models_return_logits_record({"a": logits}, "d").verdict == "holds"
    assert theory.models_return_logits_record({"a": logits.softmax(1)}, "d").verdict == "does not hold"


def test_logit_softmax_record():
    assert theory.logit_softmax_record(torch.full((10,), 0.4), "d", "m").verdict == "holds"
    assert theory.logit_softmax_record(torch.zeros(10), "d", "m").verdict == "not resolved"
