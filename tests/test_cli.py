"""`python -m whynot explain`: files and folders, saved maps equal to the library's, and every
bad input a one-line error (exit code 2) that leaves --out untouched. Also the experiments
command line's one-line errors and its table summary."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import whynot
from whynot.__main__ import main
from whynot.data.imagenet import imagenet_transform
from test_explainers import single_thread, tiny_cnn  # noqa: F401

CLASS_NAMES = ["cat", "dog", "tabby, tabby cat", "owl", "fox"]
TINY = "test_cli:tiny_model"  # --model module:attr: this file's tiny_model


def tiny_model():
    """The --model module:attr target: a function returning a model (8 px images)."""
    model = tiny_cnn(seed=3, dtype=torch.float32)
    model.whynot_meta = {"name": "tiny", "class_names": CLASS_NAMES, "input_size": 8}
    return model


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, shape in [("a.png", (10, 12, 3)), ("b.jpg", (9, 9, 3)), ("grey.png", (8, 8))]:
        Image.fromarray((rng.random(shape) * 255).astype("uint8")).save(folder / name)
    (folder / "notes.txt").write_text("not an image: skipped in a folder")
    return folder


def run(argv, capsys):
    code = main(["explain", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def loaded(files, size=8):
    transform = imagenet_transform(size)
    return torch.stack([transform(Image.open(f).convert("RGB")) for f in files])


def test_a_folder_and_files_saved_as_the_library_explains_them(photos, tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.delenv("WHYNOT_PROGRESS", raising=False)  # the bar is on by default
    out = tmp_path / "out"
    code, stdout, err = run([photos, photos / "a.png", "--model", "test_cli:tiny_model",
                             "--layer", "3", "--contrast", "logit,weighted", "--topk", "2",
                             "--out", out, "--batch-size", "2"], capsys)
    assert code == 0 and f"saved {out}" in stdout
    assert "explain" in err  # the progress bar
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"] == ["a", "b", "grey", "a"] and manifest["model"] == "tiny"
    images = loaded([photos / "a.png", photos / "b.jpg", photos / "grey.png", photos / "a.png"])
    expected = whynot.explain(tiny_model(), images, layer="3", topk=2,
                              contrast=("logit", "weighted"))
    assert len(manifest["maps"]) == 4 * 2 * 2
    for entry in manifest["maps"]:
        saved = np.load(out / entry["map"])
        b, k = entry["image_index"], entry["rank"] - 1
        np.testing.assert_allclose(saved, expected[entry["contrast"]][b, k].numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_classes_and_foil_by_name_or_index(photos, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run([photos / "a.png", "--model", TINY, "--layer", "3",
                        "--contrast", "foil", "--classes", "tabby, tabby cat", "--foil", "4",
                        "--out", out], capsys)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == [[2]] and manifest["class_names"] == [["tabby, tabby cat"]]
    model, images = tiny_model(), loaded([photos / "a.png"])
    # gradcam is linear in the cotangent: why 2 and not 4 = map(2) - map(4)
    logit = whynot.explain(model, images, layer="3", classes=[[2, 4]])
    saved = np.load(out / manifest["maps"][0]["map"])
    np.testing.assert_allclose(saved, (logit[0, 0] - logit[0, 1]).numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["missing.png", "--model", TINY], "missing.png does not exist; check the path"),
    (["bad.png", "--model", TINY], "cannot read bad.png as an image"),
    (["empty", "--model", TINY], "holds no images"),
    (["photos", "--model", "no_such_model"], "unknown model 'no_such_model'; use one of synth_vgg"),
    (["photos", "--model", "no_such_module:x"], "cannot import 'no_such_module'"),
    (["photos", "--model", "test_cli:nothing"], "module test_cli has no 'nothing'"),
    (["photos", "--model", "test_cli:CLASS_NAMES"], "gave a list, not a torch nn.Module"),
    (["photos", "--model", TINY, "--layer", "99"], "unknown layer '99'"),
    (["photos", "--model", TINY, "--classes", "zebra"], "--classes: unknown class 'zebra'"),
    (["photos", "--model", TINY, "--classes", "7"], "--classes: class 7 is out of range"),
    (["photos", "--model", TINY, "--method", "magic"], "unknown method 'magic'"),
    (["photos", "--model", TINY, "--contrast", "magic"], "unknown contrast"),
    (["photos", "--model", TINY, "--contrast", "foil", "--classes", "1", "--foil", "dog"],
     "the foil of image 0 is its target class 1"),
    (["photos", "--model", TINY, "--device", "cuda:7"], "--device cuda:7"),
    (["photos", "--model", TINY, "--out", "taken"], "--out taken exists and is not empty"),
])
def test_bad_inputs_one_line_and_nothing_written(photos, tmp_path, capsys, monkeypatch, argv,
                                                 message):
    if torch.cuda.is_available() and "cuda:7" in argv and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.png").write_text("not a PNG")
    (tmp_path / "empty").mkdir()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = argv if "--out" in argv else [*argv, "--out", "results"]
    code, stdout, err = run(args, capsys)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and stdout == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing written, nothing removed"


def test_the_module_runs_as_a_program_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "whynot", "explain", str(tmp_path / "nope.jpg"),
                             "--model", "synth_vgg"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().startswith("error:")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# --- python -m whynot.experiments --------------------------------------------------------------
def test_experiments_run_without_data_prints_one_line(tmp_path, capsys, monkeypatch):
    from whynot.experiments.__main__ import main as experiments_main
    from whynot.models.pretrained import WeightsUnavailableError

    def no_weights(name, device):
        raise WeightsUnavailableError(f"could not download the {name} weights; copy the file to X")

    monkeypatch.setattr("whynot.experiments.plans.model_on", no_weights)
    monkeypatch.setenv("WHYNOT_PROGRESS", "0")
    monkeypatch.delenv("WHYNOT_IMAGENET_VAL", raising=False)
    code = experiments_main(["run", "pgd", "--profile", "full", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_experiments_table_summary(tmp_path, capsys):
    from whynot.experiments.__main__ import main as experiments_main, summarize

    table = pd.DataFrame({"model": ["a", "a", "b"], "image": [0, 1, 0], "auc": [1.0, 3.0, 5.0]})
    summary = summarize(table)
    assert list(summary.columns) == ["model", "image", "image_ci", "auc", "auc_ci", "n"]
    assert summary.auc.tolist() == [2.0, 5.0] and summary.n.tolist() == [2, 1]
    assert summary.auc_ci[0] == pytest.approx(1.96 * np.std([1.0, 3.0], ddof=1) / np.sqrt(2))
    overall = summarize(table, by=[])
    assert overall.auc.tolist() == [3.0] and overall.n.tolist() == [3]
    with pytest.raises(ValueError, match="--by names \\['method'\\]"):
        summarize(table, by=["method"])
    from toy_experiment import experiment
    from whynot.experiments import runner

    runner.run(experiment(), out=tmp_path, progress=False)
    argv = ["table", "toy", "--out", str(tmp_path), "--summary", "--by", "condition"]
    assert experiments_main(argv) == 0
    printed = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert printed.condition.tolist() == ["clean", "scaled", "shifted"] and set(printed.n) == {23}
