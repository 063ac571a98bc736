"""Ground-truth part localization (whynot.experiments.localization): the pair/part rule, the
hit zone, the random baseline, a model whose maps are the part mask, batching, the runner, the
summary by hand and bad input.

Scores of a map phi on the part mask M (tolerance tau):
mass = sum(M * max(phi, 0)) / sum(max(phi, 0)); hit = [dist(argmax phi, M) <= tau].
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from test_explainers import single_thread, tiny_cnn  # noqa: F401
from whynot.data.synthetic import CLASS_NAMES, confusable_pairs, load_synthbirds
from whynot.experiments import localization, runner
from whynot.experiments.localization import localization_table, random_maps, scored
from whynot.experiments.parts import differing_part, hit_zone
from whynot.metrics import part_mass, pointing_game
from whynot.metrics.pointing_game import pixel_tolerance
from whynot.stats import bootstrap_ci


# --- the pair/part rule ---------------------------------------------------------------------------
def test_differing_part_by_hand():
    # 0 red-plain-fan, 1 red-plain-forked, 3 red-barred-fan, 9 orange-plain-fan, 4 red-barred-forked
    assert [CLASS_NAMES[c] for c in (0, 1, 3, 9, 4)] == [
        "red-plain-fan", "red-plain-forked", "red-barred-fan", "orange-plain-fan", "red-barred-forked"]
    assert differing_part(0, 1) == differing_part(1, 0) == "tail"
    assert differing_part(0, 3) == "wing" and differing_part(9, 0) == "head"
    assert differing_part(0, 4) is None  # wing and tail
    assert differing_part(0, 26) is None and differing_part(5, 5) is None
    partners = [sum(differing_part(a, b) is not None for b in range(27)) for a in range(27)]
    assert partners == [6] * 27  # 3 parts x 2 other values
    assert len(confusable_pairs()) == 81


@pytest.mark.parametrize("bad", [-1, 27])
def test_differing_part_refuses_classes_that_do_not_exist(bad):
    with pytest.raises(ValueError, match="classes are 0..26"):
        differing_part(0, bad)


# --- the hit zone and the random baseline ---------------------------------------------------------
def test_hit_zone_by_hand():
    mask = torch.zeros(7, 7, dtype=torch.bool)
    mask[3, 3] = True
    assert int(hit_zone(mask, 0).sum()) == 1
    assert int(hit_zone(mask, 1).sum()) == 5  # the pixel and its 4 neighbours
    assert int(hit_zone(mask, 1.5).sum()) == 9  # and the diagonals (sqrt 2 <= 1.5)
    corner = torch.zeros(7, 7, dtype=torch.bool)
    corner[0, 0] = True
    assert int(hit_zone(corner, 2).sum()) == 6  # a quarter disk: (0,0) (0,1) (0,2) (1,0) (1,1) (2,0)
    assert pixel_tolerance(56) == 3.75 and pixel_tolerance(224) == 15


def test_hit_zone_is_where_a_maximum_scores_a_pointing_game_hit():
    generator = torch.Generator().manual_seed(0)
    masks = torch.rand(2, 12, 12, generator=generator) > 0.93
    for tolerance in (0, 1, 2.5, 3.75):
        zone = hit_zone(masks, tolerance)
        one_hot = torch.eye(144).view(144, 12, 12)  # every pixel as the maximum, in turn
        for b in range(2):
            hits = pointing_game(one_hot, masks[b], tolerance).view(12, 12)
            assert torch.equal(hits, zone[b]), (tolerance, b)


def test_random_maps_are_seeded_per_image_and_score_the_part_share():
    assert torch.equal(random_maps([5, 6], 8, seed=1)[1], random_maps([6], 8, seed=1)[0])
    assert not torch.equal(random_maps([5], 8, seed=1), random_maps([5], 8, seed=2))
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[2:6, 3:11] = True  # 32 of 256 pixels: share 1/8
    noise = random_maps(range(3000), 16, seed=0)
    mass = part_mass(noise, mask).numpy()
    low, high = bootstrap_ci(mass, seed=0)
    assert low < 1 / 8 < high and high - low < 0.01
    hits = pointing_game(noise, mask, 1.0).float().numpy()
    low, high = bootstrap_ci(hits, seed=0)
    assert low < hit_zone(mask, 1.0).float().mean().item() < high


# --- a model whose maps are the part mask ---------------------------------------------------------
class ChannelZeroModel(nn.Module):
    """logits = w * mean(x[0]) + b: every CAM of class t at the conv layer is (w_t / HW) x[0]
    (the gradient is constant over the pixels), so with x[0] = a part mask and w_t > 0 the
    original map *is* the mask, up to a positive factor."""

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.pick = nn.Conv2d(3, 1, 1, bias=False)
        self.pick.weight.data = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
        self.head = nn.Linear(1, len(bias))
        self.head.weight.data, self.head.bias.data = weights.view(-1, 1), bias

    def forward(self, x):
        return self.head(self.pick(x).mean(dim=(-2, -1)))


def rigged(birds, first: int, second: int) -> ChannelZeroModel:
    """Top classes ``first``, ``second`` (logits 2 and 1.5 plus a tiny w_t * mean(x0))."""
    bias = torch.zeros(len(CLASS_NAMES))
    bias[first], bias[second] = 2.0, 1.5
    weights = 1e-3 * (1 + torch.arange(len(CLASS_NAMES), dtype=torch.float32))
    return ChannelZeroModel(weights, bias).eval()


def test_a_map_that_is_the_part_mask_scores_mass_one_and_a_hit(single_thread):
    birds = load_synthbirds("test", n=3)
    first, second = 4, 1  # red-barred-forked vs red-plain-forked: the wing
    part = birds.part_masks[:, 1]
    birds.images[:, 0] = part.float()  # channel 0 = the wing's mask
    table = localization_table(rigged(birds, first, second), birds, start=10, seed=0)
    assert len(table) == 3 * 3 * 4 * 2  # images x methods x contrasts x ranks
    assert (table.t1 == first).all() and (table.t2 == second).all() and (table.part == "wing").all()
    assert table.image.drop_duplicates().tolist() == [10, 11, 12]
    original = table[table.contrast == "logit"]
    assert (original.mass == 1).all() and (original.hit == 1).all()  # both ranks: w_t > 0
    # max of t1: (w_4 - w_1) x0 > 0 is the mask again; max of t2 is its negative: no positive mass
    max_rows = table[table.contrast == "max"]
    assert (max_rows[max_rows["rank"] == 1].mass == 1).all()
    assert max_rows[max_rows["rank"] == 2].mass.isna().all()
    share = part.float().mean(dim=(-2, -1)).double().numpy()
    per_image = table.drop_duplicates("image")
    np.testing.assert_allclose(per_image.part_share, share)
    assert (per_image.part_pixels.to_numpy() == part.sum(dim=(-2, -1)).numpy()).all()
    with torch.no_grad():
        p = rigged(birds, first, second)(birds.images).softmax(dim=1)
    np.testing.assert_allclose(per_image.p2, p[:, second].numpy(), rtol=1e-6)
    # the original map is the wing's mask, inside the bird: all its positive mass is on the bird
    assert (original.bird_mass == 1).all()
    np.testing.assert_allclose(per_image.bird_share, birds.bird_masks.double().mean(dim=(1, 2)))
    third = p.topk(3, dim=1).indices[:, 2]
    assert (per_image.t3.to_numpy() == third.numpy()).all()
    expected = [differing_part(first, int(t3)) or "" for t3 in third]
    assert per_image.third_part.tolist() == expected
    # on the t1/t3 part the wing's mask scores 1 if that part is the wing, else 0
    for part, mass in zip(original.third_part, original.third_mass):
        assert mass == (1 if part == "wing" else 0) or (part == "" and np.isnan(mass))


def test_pairs_that_differ_in_more_than_one_part_are_counted_not_scored(single_thread):
    birds = load_synthbirds("test", n=2)
    table = localization_table(rigged(birds, 0, 4), birds)  # wing and tail differ
    assert (table.part == "").all()
    assert table[["mass", "hit", "part_share", "random_mass", "random_hit"]].isna().all().all()
    assert scored(table).empty
    counts = localization.counts(table.assign(model="m"))
    assert counts.to_dict("records") == [
        {"model": "m", "images": 2, "p2_above": 2, "one_part": 0, "scored": 0}]


def test_a_model_that_is_not_a_synthbirds_model_is_refused(single_thread):
    birds = load_synthbirds("test", n=2)
    with pytest.raises(ValueError, match="needs a SynthBirds model"):
        localization_table(tiny_cnn(dtype=torch.float32), birds)


# --- the experiment: batching, plans, the runner --------------------------------------------------
def test_batched_experiment_equals_a_naive_per_image_loop(single_thread):
    from whynot.models.zoo import load_model

    experiment = localization.experiment("smoke", models=["synth_vgg"], n_images=6, batch_size=3)
    batched = pd.concat([experiment.run_batch(b, torch.device("cpu")) for b in experiment.batches],
                        ignore_index=True)
    model, birds = load_model("synth_vgg"), load_synthbirds("test", n=6)
    naive = pd.concat([localization_table(model, birds.subset(i), start=i) for i in range(6)],
                      ignore_index=True).assign(model="synth_vgg")
    keys = ["image", "method", "contrast", "rank"]
    batched, naive = (t.sort_values(keys).reset_index(drop=True) for t in (batched, naive))
    assert batched[keys + ["t1", "t2", "part", "hit"]].equals(naive[keys + ["t1", "t2", "part", "hit"]])
    np.testing.assert_allclose(batched.mass, naive.mass, rtol=1e-4, atol=1e-6)
    assert batched.part.ne("").any() and set(batched.model) == {"synth_vgg"}


@pytest.mark.parametrize("profile", sorted(localization.PLANS))
def test_plans_cover_every_image_once_and_name_their_weights(profile):
    experiment = localization.experiment(profile)
    assert experiment.name == "localization"
    for model, n in experiment.config["models"]:
        starts = [(b["start"], b["stop"]) for b in experiment.batches if b["model"] == model]
        assert [i for start, stop in starts for i in range(start, stop)] == list(range(n))
    assert set(experiment.config["weights"]) == set(localization.MODELS) == {
        m for m, _ in experiment.config["models"]}
    assert "synthbirds_version" in experiment.config
    assert runner.load_experiment("localization", profile).config == experiment.config


def test_runner_resumes_a_tiny_plan(tmp_path, single_thread):
    experiment = localization.experiment("smoke", models=["synth_vgg"], n_images=4, batch_size=2)
    calls = []

    def counted(batch, device):
        calls.append(batch["start"])
        return experiment.run_batch(batch, device)

    counting = dataclasses.replace(experiment, run_batch=counted)
    first = runner.run(counting, out=tmp_path, progress=False)
    (tmp_path / "localization" / "parts" / "part-00001.pkl").unlink()
    again = runner.run(counting, out=tmp_path, progress=False)
    assert calls == [0, 2, 2]
    pd.testing.assert_frame_equal(first, again)
    assert first.image.drop_duplicates().tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("kwargs, message", [
    ({"profile": "huge"}, "unknown profile"),
    ({"profile": "smoke", "models": ["synth_vit"]}, "none of"),
])
def test_bad_experiment_arguments_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        localization.experiment(**kwargs)


# --- summaries by hand ----------------------------------------------------------------------------
def hand_table() -> pd.DataFrame:
    """One model and method, the original and weighted maps of rank 1 on five images: image 3
    has p2 <= 0.1, image 4 a two-part pair; they are not scored."""
    images = pd.DataFrame({
        "model": "m", "image": range(5), "p2": [0.3, 0.2, 0.4, 0.05, 0.3],
        "part": ["head", "wing", "tail", "head", ""], "part_pixels": [4, 4, 4, 4, 0],
        "part_share": [0.1, 0.1, 0.1, 0.1, np.nan], "hit_zone_share": [0.2, 0.2, 0.2, 0.2, np.nan],
        "random_mass": [0.1, 0.2, 0.0, 0.5, np.nan], "random_hit": [0.0, 1.0, 0.0, 1.0, np.nan],
        "method": "gradcam", "rank": 1,
    })
    original = images.assign(contrast="logit", mass=[0.1, 0.2, 0.3, 0.9, np.nan],
                             hit=[0.0, 0.0, 1.0, 1.0, np.nan])
    weighted = images.assign(contrast="weighted", mass=[0.5, 0.4, 0.3, 0.0, np.nan],
                             hit=[1.0, 1.0, 1.0, 0.0, np.nan])
    return pd.concat([original, weighted], ignore_index=True)


def test_summarize_and_baselines_by_hand():
    summary = localization.summarize(hand_table(), n_resamples=500).set_index("contrast")
    assert summary.images.tolist() == [3, 3]
    assert summary.loc["logit", "mass"] == pytest.approx(0.2)
    assert summary.loc["weighted", "mass"] == pytest.approx(0.4)
    assert summary.loc["weighted", "mass_gain"] == pytest.approx(0.2)  # (0.4 + 0.2 + 0) / 3
    assert summary.loc["weighted", "hit_gain"] == pytest.approx(2 / 3)
    assert summary.loc["weighted", "mass_excess"] == pytest.approx(0.3)  # 0.4 - 0.1
    assert summary.loc["logit", "hit_excess"] == pytest.approx(1 / 3 - 0.2)
    assert np.isnan(summary.loc["logit", "mass_gain_low"])
    row = summary.loc["weighted"]
    assert row.mass_low <= row.mass <= row.mass_high and 0 <= row.mass_gain_low <= 0.2
    chance = localization.baselines(hand_table(), n_resamples=500).iloc[0]
    assert chance.images == 3 and chance.part_share == pytest.approx(0.1)
    assert chance.random_mass == pytest.approx(0.1) and chance.random_hit == pytest.approx(1 / 3)
    pair = localization.paired_difference(hand_table(), "weighted", "logit", n_resamples=500)
    assert pair.mass_gain.item() == pytest.approx(0.2) and pair.images.item() == 3


def test_verdicts_read_the_paired_intervals():
    assert [localization.resolved(*ci) for ci in [(0.1, 0.2), (-0.2, -0.1), (-0.1, 0.1)]] == [
        "higher", "lower", "unresolved"]
    table = localization.verdicts(localization.summarize(hand_table(), n_resamples=500))
    weighted = table.set_index("contrast").loc["weighted"]
    assert weighted.mass_vs_original == "unresolved"  # gains 0.4, 0.2, 0: resamples of 0 reach 0
    assert weighted.hit_vs_original == "unresolved"
    assert table.set_index("contrast").loc["logit", "mass_vs_original"] == "-"
    # excess over the part share: 0.4, 0.3, 0.2, all positive, so every resample is
    assert localization.tally(table, "mass_vs_uniform", "weighted") == {
        "higher": 1, "lower": 0, "unresolved": 0}


# --- claims: paired comparisons judged by whynot.claims, combined per claim -------------------
def comparison_table(n: int = 12) -> pd.DataFrame:
    """One model, Grad-CAM, the map of t1 on n images with p2 = p3 = 0.3: the weighted map has
    0.1 more part mass than max and 0.05 more than the original, and 0.2 less bird mass than the
    original. Images 0-5 have a t1/t3 part (the wing) other than the t1/t2 part (the head),
    where weighted beats max by 0.3; images 6.. share the head."""
    images = pd.DataFrame({
        "model": "m", "method": "gradcam", "rank": 1, "image": range(n), "p2": 0.3, "p3": 0.3,
        "part": "head", "part_pixels": 4,
        "third_part": ["wing" if i < 6 else "head" for i in range(n)], "third_part_pixels": 4,
    })
    return pd.concat([
        images.assign(contrast="logit", mass=0.2, bird_mass=0.7, third_mass=0.1),
        images.assign(contrast="max", mass=0.15, bird_mass=0.6, third_mass=0.0),
        images.assign(contrast="weighted", mass=0.25, bird_mass=0.5, third_mass=0.3),
    ], ignore_index=True)


def test_compare_judges_paired_differences_by_hand():
    table = comparison_table()
    pair = localization.compare(table, "weighted", "max", ("mass",), n_resamples=200)
    assert pair[["images", "verdict", "comparison"]].values.tolist() == [
        [12, "holds", "weighted - max"]]
    assert pair.effect.item() == pytest.approx(0.1) and pair.low.item() == pytest.approx(0.1)
    bird = localization.compare(table, "weighted", "logit", ("bird_mass",), n_resamples=200)
    assert bird.effect.item() == pytest.approx(-0.2) and bird.verdict.item() == "does not hold"
    assert list(localization.third_scored(table).image.unique()) == [0, 1, 2, 3, 4, 5]
    third = localization.compare(table, "weighted", "max", ("third_mass",), selection="third",
                                 n_resamples=200)
    assert third.images.item() == 6 and third.effect.item() == pytest.approx(0.3)
    assert third.verdict.item() == "not resolved"  # 6 < MIN_IMAGES images decide nothing


def test_settings_record_combines_and_shows_the_weakest():
    settings = pd.DataFrame({
        "model": ["a", "b", "c"], "images": [20, 30, 5], "effect": [0.2, -0.1, 0.5],
        "low": [0.1, -0.2, 0.4], "high": [0.3, -0.05, 0.6],
        "verdict": ["holds", "does not hold", "holds"]})
    record = localization.settings_record("wang-tradeoff", settings)
    assert record.verdict == "partly holds" and record.model == "b"
    assert (record.effect, record.low, record.high, record.n) == (-0.1, -0.2, -0.05, 30)
    assert record.why.startswith("1 holds, 1 does not hold in 2 settings (model)")
    assert "1 with fewer than 10 images left out" in record.why
    assert localization.settings_record("wang-tradeoff", settings[:1]).verdict == "holds"
    assert localization.settings_record("wang-tradeoff", settings[2:]).verdict == "not resolved"


def test_claim_records_read_the_table_by_hand():
    table = pd.concat([comparison_table(), comparison_table().assign(method="la")])
    table = table.assign(hit=1.0)
    records, settings = localization.claim_records(table, n_resamples=200)
    verdicts = {r.claim: r.verdict for r in records}
    # the original's bird mass is 0.2 above the weighted's, the weighted's part mass 0.05 above
    assert verdicts["wang-tradeoff"] == "holds"
    # weighted above max on the t1/t2 part; the t1/t3 part has too few images (6)
    assert verdicts["wang-fig5-max"] == "holds" and len(settings["wang-fig5-max"]) == 4
    # part mass +0.05 holds; equal hits: an interval at 0 does not resolve
    assert verdicts["wang-fig4-parts"] == "partly holds"
    assert verdicts["reports-xgradcam"] == "not resolved"  # no XGrad-CAM rows
