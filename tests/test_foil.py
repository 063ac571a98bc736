"""User-chosen foils ("why t and not s?"), custom cotangents, class names, what an Explanation
records, and batch_size, on tiny float64 models where the answers are exact identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import whynot
from test_explainers import (  # noqa: F401
    ANY_MODEL_METHODS,
    LINEAR_METHODS,
    TEST_KWARGS,
    random_images,
    single_thread,
    tiny_cnn,
)
from whynot.targets import strongest_other

NAMES = ("ant", "bee", "cat", "dog", "eel")


def explain(model, images, method, **kwargs):
    return whynot.explain(model, images, method=method, **TEST_KWARGS.get(method, {}), **kwargs)


@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_the_foil_map_is_the_difference_of_the_two_logit_maps(method):
    model, images = tiny_cnn(), random_images(batch=3)
    targets, foils = [0, 3, 1], [2, 2, 4]
    foil = explain(model, images, method, classes=targets, contrast="foil", foil=foils)
    target_maps = explain(model, images, method, classes=targets)
    foil_maps = explain(model, images, method, classes=foils)
    torch.testing.assert_close(foil, target_maps - foil_maps, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_a_foil_set_contrasts_against_the_mean_of_its_logit_maps(method):
    model, images = tiny_cnn(), random_images(batch=2)
    foils = [[1, 2, 4], [0, 0, 3]]  # a repeated foil counts twice
    maps = explain(model, images, method, classes=[3, 2], contrast="foil", foil=foils)
    expected = (
        explain(model, images, method, classes=[3, 2])
        - sum(explain(model, images, method, classes=[row[j] for row in foils]) for j in range(3))
        / 3
    )
    torch.testing.assert_close(maps, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ANY_MODEL_METHODS)
def test_the_strongest_other_class_as_foil_is_the_max_contrast_for_every_method(method):
    model, images = tiny_cnn(), random_images(batch=2)
    classes = torch.tensor([[0, 3], [2, 4]])
    rival = strongest_other(model(images), classes)
    for k in range(2):
        both = explain(
            model,
            images,
            method,
            classes=classes[:, k],
            contrast=("max", "foil", "logit"),
            foil=rival[:, k],
        )
        torch.testing.assert_close(both["foil"], both["max"])
        alone = explain(
            model, images, method, classes=classes[:, k], contrast="foil", foil=rival[:, k]
        )
        torch.testing.assert_close(alone, both["foil"])


def test_a_foil_costs_one_backward_pass_per_foil_class_not_per_map():
    model, images = tiny_cnn(), random_images(batch=2)  # soft enough: no exact weighted atoms
    paper = ("logit", "softmax", "weighted", "mean", "max")
    third = model(images).topk(3).indices[:, 2]  # a different class per image, never a target

    def passes(**kwargs):
        return explain(
            model, images, "gradcam", topk=2, return_explanation=True, **kwargs
        ).backward_passes

    assert passes(contrast=paper) == 4  # k + 2
    assert passes(contrast=(*paper, "foil"), foil=third) == 5  # one more row, shared by the images
    assert passes(contrast=("logit", "foil"), foil=third) == 3  # and by both targets


def test_foil_pass_counts_exactly():
    model, images = tiny_cnn(), random_images(batch=2)
    logits = model(images)
    order = logits.argsort(dim=1, descending=True)
    outside = order[:, 3:5]  # two classes that are neither top-2 target
    run = explain(
        model,
        images,
        "gradient",
        topk=2,
        contrast=("logit", "foil"),
        foil=outside,
        return_explanation=True,
    )
    assert run.backward_passes == 4  # e_t1, e_t2 and the two foils, per image in the same 4 rows
    run = explain(
        model,
        images,
        "gradient",
        topk=2,
        contrast=("logit", "foil"),
        foil=outside[:, 0],
        return_explanation=True,
    )
    assert run.backward_passes == 3
    assert torch.equal(run.foil, outside[:, :1])


def test_a_custom_cotangent_is_its_vjp_in_every_shape():
    model, images = tiny_cnn(), random_images(batch=2)
    classes = torch.tensor([[0, 3], [2, 4]])
    foil = explain(model, images, "gradient", classes=classes, contrast="foil", foil=1)
    v = torch.zeros(2, 2, 5, dtype=torch.float64)
    v.scatter_(2, classes[..., None], 1.0)
    v[..., 1] -= 1
    per_target = explain(model, images, "gradient", classes=classes, contrast=v)
    torch.testing.assert_close(per_target, foil, rtol=0, atol=1e-12)
    one = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.0], dtype=torch.float64)
    shared = explain(
        model, images, "gradient", classes=classes, contrast=("logit", one), return_explanation=True
    )
    assert shared.contrast == ("logit", "custom") and shared.backward_passes == 3
    by_hand = sum(one[c] * explain(model, images, "gradient", classes=c) for c in (0, 1, 3))
    torch.testing.assert_close(
        shared.maps["custom"], by_hand.expand(-1, 2, -1, -1), rtol=0, atol=1e-12
    )
    rows = explain(model, images, "gradient", classes=classes, contrast=one.expand(2, 5))
    torch.testing.assert_close(rows, shared.maps["custom"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"classes": [0, 3], "contrast": "foil", "foil": [2, 3]},
            "foil of image 1 is its target class 3",
        ),
        ({"contrast": "foil"}, "needs foil="),
        ({"foil": 2}, "needs foil=.*contrast='foil'"),
        (
            {"contrast": "foil", "foil": [1, 2, 3]},
            r"foil must be an int.*\[B, F\].*B = 2.*got shape \(3,\)",
        ),
        ({"contrast": "foil", "foil": 9}, r"foil classes must be in \[0, 4\]"),
        ({"contrast": "foil", "foil": 1.5}, "integer class indices"),
        ({"contrast": torch.zeros(3, 5)}, "3 rows for 2 images"),
        ({"contrast": torch.zeros(2, 4)}, r"does not fit 2 images, 1 targets and 5 logits"),
        ({"contrast": torch.zeros(2, 3, 5)}, r"\[B, K, C\] = \[2, 1, 5\]"),
        ({"contrast": torch.zeros(5, dtype=torch.long)}, "floating cotangent"),
        ({"classes": "cat"}, "carries no class names"),
    ],
)
def test_foil_and_custom_mistakes_get_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        whynot.explain(tiny_cnn(), random_images(), method="gradient", **kwargs)


def named_model():
    return whynot.wrap(tiny_cnn(), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), class_names=NAMES)


def test_classes_and_foils_by_name():
    model, images = named_model(), random_images()
    by_name = whynot.explain(
        model,
        images,
        method="gradient",
        classes=["dog", "Bee"],
        contrast="foil",
        foil=[["ant", "eel"], ["cat", 4]],
        return_explanation=True,
    )
    by_index = whynot.explain(
        model, images, method="gradient", classes=[3, 1], contrast="foil", foil=[[0, 4], [2, 4]]
    )
    torch.testing.assert_close(by_name.maps, by_index, rtol=0, atol=0)
    assert by_name.class_names == NAMES
    with pytest.raises(ValueError, match="unknown class name 'bea' in classes; did you mean 'bee'"):
        whynot.explain(model, images, classes="bea")


def test_an_explanation_records_what_was_explained():
    model, images = named_model(), random_images()
    run = whynot.explain(
        model,
        images,
        method="gradcam",
        classes=2,
        contrast=("logit", "foil"),
        foil=1,
        return_explanation=True,
    )
    assert (run.method, run.layer, run.contrast) == ("gradcam", "net.3", ("logit", "foil"))
    torch.testing.assert_close(run.probabilities, model(images).softmax(dim=1))
    assert torch.equal(run.foil, torch.tensor([[1], [1]]))
    single = whynot.explain(model, images, method="gradient", return_explanation=True)
    assert (single.method, single.layer, single.contrast, single.foil) == (
        "gradient",
        None,
        "logit",
        None,
    )


def test_multilabel_models_keep_logit_foil_and_custom_and_refuse_softmax_contrasts():
    model, images = tiny_cnn(), random_images()
    run = whynot.explain(
        model,
        images,
        method="gradient",
        classes=0,
        contrast=("logit", "foil", "max"),
        foil=3,
        multilabel=True,
        return_explanation=True,
    )
    torch.testing.assert_close(run.probabilities, model(images).sigmoid())
    torch.testing.assert_close(
        run.maps["foil"], explain(model, images, "gradient", classes=0, contrast="foil", foil=3)
    )
    for contrast in ("softmax", "weighted"):
        with pytest.raises(ValueError, match="softmax over the classes, which a multi-label"):
            whynot.explain(model, images, method="gradient", contrast=contrast, multilabel=True)


@pytest.mark.parametrize("method", [*ANY_MODEL_METHODS, "rollout", "attention_rollout"])
def test_batch_size_chunks_give_the_maps_of_one_call(method):
    from test_vit import timm_vit

    vit = method in ("rollout", "attention_rollout")
    model = timm_vit().double() if vit else tiny_cnn()
    images = random_images(batch=5, size=32 if vit else 8)
    if vit:
        kwargs = dict(topk=2, contrast="softmax")
    else:
        kwargs = dict(topk=2, contrast=("logit", "foil"), foil=model(images).topk(3).indices[:, 2:])
    whole = explain(model, images, method, return_explanation=True, **kwargs)
    chunked = explain(model, images, method, return_explanation=True, batch_size=2, **kwargs)
    assert torch.equal(chunked.classes, whole.classes)
    for name, maps in (whole.maps.items() if isinstance(whole.maps, dict) else [("", whole.maps)]):
        other = chunked.maps[name] if name else chunked.maps
        torch.testing.assert_close(other, maps, rtol=1e-10, atol=1e-12)


def test_foil_gradcam_matches_pytorch_grad_cam_with_a_difference_target():
    pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
    model = tiny_cnn(dtype=torch.float32)
    images = random_images(dtype=torch.float32)
    ours = whynot.explain(
        model,
        images,
        method="gradcam",
        layer="0",
        classes=[1, 4],
        contrast="foil",
        foil=[3, 0],
        relu=True,
    )
    targets = [lambda out, t=t, s=s: out[t] - out[s] for t, s in ((1, 3), (4, 0))]
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model[0]]) as cam:
        theirs = cam(input_tensor=images, targets=targets)
    scaled = ours[:, 0] - ours[:, 0].amin(dim=(1, 2), keepdim=True)
    scaled = scaled / (scaled.amax(dim=(1, 2), keepdim=True) + 1e-7)
    np.testing.assert_allclose(scaled.numpy(), theirs, atol=1e-5)


# --- chapter 03's "why t1 and not t3?" experiment ----------------------------------------------


def test_foil_summary_and_verdict_on_a_hand_made_table():
    import pandas as pd

    from whynot.experiments import foils

    rows = []
    for image in range(30):
        base = 0.1 + 0.01 * (image % 7)
        masses = {"foil": base + 0.2, "logit": base, "weighted": base + 0.2, "max": base + 0.3}
        for name, mass in masses.items():
            rows.append(
                dict(
                    model="m",
                    method="gradcam",
                    image=image,
                    part="tail",
                    part_pixels=5,
                    part_share=0.02,
                    map=name,
                    mass=mass,
                    hit=float(name != "logit"),
                )
            )
    rows.append(dict(rows[0], part="", image=99))  # not a one-part pair: not scored
    summary = foils.summarize(pd.DataFrame(rows), n_resamples=200)
    by_map = summary.set_index("map")
    assert by_map.loc["foil", "images"] == 30
    assert by_map.loc["logit", "foil_mass_gain"] == pytest.approx(0.2)
    assert by_map.loc["max", "foil_mass_gain"] == pytest.approx(-0.1)
    counts = foils.tally(summary).set_index("map")
    assert counts.loc["logit", "foil higher"] == 1 and counts.loc["weighted", "unresolved"] == 1
    assert counts.loc["max", "foil lower"] == 1
    assert " ".join(foils.verdict(summary).split()).startswith(
        "The foil map of t1 against t3 puts more of its positive mass on the part that separates "
        "them than the original map in 1 of 1, than the weighted map in 0 of 1 (lower in 0, "
        "unresolved in 1)"
    )


def test_foil_table_scores_the_t1_t3_part_on_synthbirds():
    from whynot.data.synthetic import load_synthbirds
    from whynot.experiments import foils
    from whynot.experiments.parts import differing_part
    from whynot.models.zoo import load_model

    table = foils.foil_table(
        load_model("synth_vgg"), load_synthbirds("test", n=12), methods=("gradcam",)
    )
    assert len(table) == 12 * len(foils.MAPS)
    first = table.drop_duplicates("image")
    assert list(first.part) == [differing_part(a, b) or "" for a, b in zip(first.t1, first.t3)]
    assert (first.p1 >= first.p2).all() and (first.p2 >= first.p3).all()
    assert table.loc[table.part == "", "mass"].isna().all()
