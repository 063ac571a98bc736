"""Explanation.save: overlays, raw maps and a manifest, written all at once or not at all."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import whynot
from whynot.save import load_map, save_explanation
from whynot.viz import overlay_array
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401

NAMES = ("cat", "dog", "cup", "owl", "fox")


def explained(contrast=("logit", "weighted")):
    model = tiny_cnn(seed=3, dtype=torch.float32)
    model.whynot_meta = {"name": "tiny", "class_names": list(NAMES)}
    images = random_images(batch=2, size=8, seed=5, dtype=torch.float32)
    ex = whynot.explain(model, images, method="gradcam", layer="3", topk=2, contrast=contrast,
                        return_explanation=True)
    return model, images, ex


def test_every_map_its_overlay_and_one_manifest(tmp_path):
    model, images, ex = explained()
    folder = ex.save(tmp_path / "out", images, model=model, image_names=["a.jpg", "b.jpg"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == "tiny" and manifest["whynot_version"] == whynot.__version__
    assert manifest["contrasts"] == ["logit", "weighted"]
    assert manifest["classes"] == ex.classes.tolist()
    assert manifest["class_names"] == [[NAMES[c] for c in row] for row in ex.classes.tolist()]
    probabilities = model(images).softmax(dim=1).gather(1, ex.classes)
    np.testing.assert_allclose(manifest["probabilities"], probabilities.detach().numpy(), rtol=1e-6)
    assert len(manifest["maps"]) == 2 * 2 * 2  # images x classes x contrasts
    files = {p.name for p in folder.iterdir()}
    listed = {entry[key] for entry in manifest["maps"] for key in ("overlay", "map")}
    assert files == {"manifest.json"} | listed
    for entry in manifest["maps"]:
        b, k = entry["image_index"], entry["rank"] - 1
        raw = ex.maps[entry["contrast"]][b, k]
        assert entry["class_name"] == NAMES[int(ex.classes[b, k])]
        assert entry["overlay"].startswith(f"{entry['image']}_{entry['contrast']}_top{k + 1}_")
        torch.testing.assert_close(load_map(folder, entry), raw.float(), rtol=0, atol=0)
        picture = np.asarray(Image.open(folder / entry["overlay"]))
        np.testing.assert_array_equal(picture, overlay_array(images[b], raw))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder left"


def test_a_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    model, images, ex = explained()
    calls = []

    def failing_overlay(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return overlay_array(*args, **kwargs)

    monkeypatch.setattr("whynot.viz.overlay_array", failing_overlay)
    with pytest.raises(RuntimeError, match="disk full"):
        ex.save(tmp_path / "out", images, model="tiny")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_kept_unless_overwrite(tmp_path):
    model, images, ex = explained(contrast="max")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ex.save(out, images)
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    ex.save(out, images, overwrite=True)
    names = {p.name for p in out.iterdir()}
    assert "old.txt" not in names and "manifest.json" in names
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["contrast"] == "max" and manifest["model"] is None
    top = int(ex.classes[0, 0])  # named from the explanation's class names, else by index
    name = ex.class_names[top] if ex.class_names is not None else f"class{top}"
    assert manifest["maps"][0]["overlay"] == f"image000_max_top1_{name}.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_empty_folder_is_filled_and_bad_inputs_are_refused(tmp_path):
    model, images, ex = explained(contrast="logit")
    (tmp_path / "empty").mkdir()
    save_explanation(ex, tmp_path / "empty", images)
    assert (tmp_path / "empty" / "manifest.json").exists()
    with pytest.raises(ValueError, match="the \\[B, 3, H, W\\] batch that was explained"):
        ex.save(tmp_path / "x", images[:1])
    with pytest.raises(ValueError, match="one name per image"):
        ex.save(tmp_path / "x", images, image_names=["a"])
    assert not (tmp_path / "x").exists()


def test_repeated_image_names_do_not_overwrite_each_other(tmp_path):
    model, images, ex = explained(contrast="logit")
    folder = ex.save(tmp_path / "out", images, image_names=["cat", "cat"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len({e["overlay"] for e in manifest["maps"]}) == len(manifest["maps"]) == 4
