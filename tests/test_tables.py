"""Result tables (whynot.tables) and the chapters' findings (whynot.claims.findings)."""
import math

import pandas as pd
import pytest

from whynot import claims, tables
from whynot.claims import Record


def test_interval_columns_merge_into_one_cell_with_their_estimate():
    frame = pd.DataFrame({"model": ["a"], "mass": [0.0561], "mass_low": [0.0442],
                          "mass_high": [0.0693], "p_t": [0.5], "p_t_ci": [0.25]})
    shown = tables.table(frame)
    assert shown.header == ["model", "mass", "p t"]
    assert shown.rows == [["a", "0.056 [0.044, 0.069]", "0.500 [0.250, 0.750]"]]
    assert tables.INTERVAL_NOTE in shown.notes


def test_bare_low_high_belong_to_the_estimate():
    frame = pd.DataFrame({"claim": ["c"], "estimate": [1.0], "low": [-0.5], "high": [2.25]})
    assert tables.table(frame, decimals=2).rows == [["c", "1.00 [-0.50, 2.25]"]]


def test_undefined_values_print_as_a_dash_with_a_footnote_never_nan():
    frame = pd.DataFrame({"method": ["x", "y"], "value": [float("nan"), -0.0001],
                          "images": [3.0, float("nan")]})
    shown = tables.table(frame, undefined="no positive pixel")
    text, page = str(shown), shown._repr_html_()
    assert "nan" not in text.lower() and "nan" not in page.lower()
    assert shown.rows == [["x", "—", "3"], ["y", "0.000", "—"]]  # never -0.000
    assert "—: no positive pixel." in shown.notes


def test_headers_come_from_the_caller_then_the_shared_dict():
    frame = pd.DataFrame({"eps": [0.003], "accuracy_before": [0.5], "seconds": [1.5]})
    shown = tables.table(frame, headers=tables.PGD)
    assert shown.header == ["ε", "accuracy before", "time (s)"]


def test_a_named_index_becomes_key_columns_and_multi_level_headers_flatten():
    frame = pd.DataFrame({("t1", "original"): [0.1], ("t1", "weighted"): [0.2]},
                         index=pd.Index(["vgg"], name="model"))
    shown = tables.table(frame)
    assert shown.header == ["model", "t1 original", "t1 weighted"] and shown.keys == 1


def test_a_wide_table_splits_into_parts_that_repeat_the_keys_and_fit_the_page():
    frame = pd.DataFrame({"model": ["synth_resnet"]} | {
        f"column_{i}": [0.123456] for i in range(12)}).set_index("model")
    shown = tables.table(frame, width=60)
    groups = shown.parts()
    assert len(groups) > 1 and all(g[0] == 0 for g in groups)
    assert sorted({i for g in groups for i in g}) == list(range(13))
    for group in groups:  # page characters: cells, or a header's longest word, plus padding
        assert sum(tables._width(shown.header[i], [r[i] for r in shown.rows])
                   for i in group) <= 60
    assert shown._repr_html_().count("<table") == len(groups)


def test_a_long_table_folds_behind_a_dropdown():
    frame = pd.DataFrame({"image": range(30), "value": [0.5] * 30})
    assert "<details>" in tables.table(frame, caption="Every image", fold=20)._repr_html_()
    assert "<details>" not in tables.table(frame.head(5), fold=20)._repr_html_()


def test_cells_are_escaped_and_text_is_machine_independent():
    frame = pd.DataFrame({"name": ["<b>x</b>"], "share": [0.25]})
    shown = tables.table(frame, formats={"share": tables.percent()})
    assert "<b>x</b>" not in shown._repr_html_() and "25 %" in str(shown)
    assert tables.cell(1 / 3, 4) == "0.3333" and tables.cell(True) == "yes"
    assert tables.interval(0.5, math.nan, 1.0) == "0.500"


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.delenv(claims.CLAIMS_DIR_ENV, raising=False)
    monkeypatch.setattr(claims, "_RECORDED", {})
    (claim,) = claims.claims_of("00_data_and_models")
    return claim


def test_findings_list_each_claim_with_its_verdict_and_link_to_the_claims_page(recorded):
    with pytest.raises(claims.ClaimError, match="no record yet"):
        claims.findings("00_data_and_models")
    shown = claims.record(Record(recorded.id, "holds", "5 of 5 models", 1.0, 1.0, 1.0, n=5,
                                 unit="models"))
    assert shown.rows[0][:2] == [recorded.where, "1.000 [1.000, 1.000], n = 5 models"]
    text = claims.findings("00_data_and_models")
    assert text.startswith("```{admonition} What this chapter found")
    assert "1 claim tested: 1 holds" in text and "{ref}`claims page <claims>`" in text
    assert f"* **holds**: {{ref}}`{recorded.where} <{recorded.section}>`" in text
    with pytest.raises(claims.ClaimError, match="no claim is registered"):
        claims.findings("00_data")


def test_findings_escape_markdown_and_shorten_long_statements():
    text = claims._markdown_text('"x * y_1 costs $5 and ' + "word " * 40 + '"', limit=40)
    assert r"x \* y\_1 costs \$5" in text and text.endswith('…"') and len(text) < 60


def test_glue_findings_stores_markdown_for_myst_nb(recorded, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append((a, k)))
    claims.record(Record(recorded.id, "not tested", "no models"))
    claims.glue_findings("00_data_and_models")
    ((bundle,), options) = shown[0]
    assert options["metadata"]["scrapbook"]["name"] == "findings"
    assert bundle[claims.GLUE_PREFIX + "text/markdown"] == claims.findings("00_data_and_models")


def test_a_text_column_named_like_an_estimate_is_left_alone():
    frame = pd.DataFrame({"value": ["corr(weighted, logit)"], "rho": [0.25], "low": [0.1],
                          "high": [0.4]})
    assert tables.table(frame, decimals=2).rows == [["corr(weighted, logit)", "0.25 [0.10, 0.40]"]]


def test_an_unnamed_index_of_labels_is_kept_and_row_numbers_are_dropped():
    labelled = pd.DataFrame({"mass_bird": [0.5]}, index=["Grad-CAM"])
    assert tables.table(labelled).rows == [["Grad-CAM", "0.500"]]
    assert tables.table(labelled).header == ["", "mass bird"]
    numbered = pd.DataFrame({"x": [1.0, 2.0]}, index=[3, 3])
    assert tables.table(numbered).rows == [["1.000"], ["2.000"]]
    multi = pd.DataFrame({("mass_bird", "synth_vgg"): [0.5]})
    assert tables.table(multi).header == ["mass bird synth_vgg"]


def test_an_interval_stays_on_one_line_and_a_longer_numeric_cell_may_wrap():
    frame = pd.DataFrame({"claim": ["a", "b"],
                          "ours": ["0.056 [0.044, 0.069]", "-0.96 [-2.46, 0.39], n = 81 images"]})
    cells = tables.table(frame)._repr_html_().split("<td")[1:]
    assert "nowrap" in cells[1] and "0.056" in cells[1]
    assert "nowrap" not in cells[3] and "81 images" in cells[3]
