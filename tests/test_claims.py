"""The claims registry, the verdict rule, the records and the generated claims page."""
from __future__ import annotations

import importlib
import json
import re
import sys
import types

import pytest

from whynot import book, claims, metrics
from whynot.claims import Claim, ClaimError, Record, combine, judge, measured
from whynot.claims import page as claims_page
from whynot.metrics import deletion, insertion

ROOT = book.ROOT


# --- the rule ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "low, high, claimed, boundary, expected",
    [
        (0.01, 0.03, "higher", 0.0, "holds"),
        (-0.03, -0.01, "higher", 0.0, "does not hold"),
        (-0.01, 0.03, "higher", 0.0, "not resolved"),
        (-0.03, -0.01, "lower", 0.0, "holds"),
        (1.2, 1.5, "higher", 1.0, "holds"),  # a boundary other than 0
        (0.8, 1.5, "higher", 1.0, "not resolved"),
        (0.5, 0.9, "lower", 1.0, "holds"),
        (0.00005, 0.03, "higher", 0.0, "not resolved"),  # within round-off of the boundary
        (1.00005, 1.2, "higher", 1.0, "not resolved"),
        (float("nan"), 0.3, "higher", 0.0, "not resolved"),
    ],
)
def test_judge(low, high, claimed, boundary, expected):
    assert judge(low, high, claimed, boundary) == expected


def test_direction_is_read_from_the_metric_module_or_function():
    deletion_module = importlib.import_module("whynot.metrics.deletion")
    # a lower deletion AUC is better: a negative difference "holds" for "better on deletion"
    assert judge(-0.05, -0.01, deletion_module) == "holds"
    assert judge(-0.05, -0.01, deletion) == "holds"  # `from whynot.metrics import deletion`
    assert judge(-0.05, -0.01, insertion) == "does not hold"
    with pytest.raises(ClaimError, match="DIRECTION"):
        judge(0.1, 0.2, "better")


def test_every_metric_declares_a_machine_readable_direction():
    for name in metrics.__all__:
        module = importlib.import_module(f"whynot.metrics.{name}")
        assert module.DIRECTION in claims.DIRECTIONS, name


@pytest.mark.parametrize(
    "verdicts, expected",
    [
        (["holds", "holds"], "holds"),
        (["does not hold", "does not hold"], "does not hold"),
        (["holds", "does not hold"], "partly holds"),
        (["holds", "not resolved"], "partly holds"),
        (["partly holds", "does not hold"], "partly holds"),
        (["does not hold", "not resolved"], "does not hold"),
        (["not resolved", "not resolved"], "not resolved"),
    ],
)
def test_combine(verdicts, expected):
    assert combine(verdicts) == expected


def test_combine_refuses_unmeasured_verdicts():
    with pytest.raises(ClaimError):
        combine(["holds", "not tested"])
    with pytest.raises(ClaimError):
        combine([])


# --- records -------------------------------------------------------------------------------------
def test_record_refuses_verdicts_outside_the_vocabulary_and_non_finite_numbers():
    with pytest.raises(ClaimError, match="vocabulary"):
        Record("x", "confirmed", "why")
    with pytest.raises(ClaimError, match="why"):
        Record("x", "holds", " ")
    with pytest.raises(ClaimError, match="None"):
        Record("x", "holds", "why", effect=float("nan"))


def test_measured_judges_and_prints_without_negative_zero():
    rec = measured("x", -0.00001, -0.02, 0.03, "covers 0", n=49, unit="images", decimals=3)
    assert rec.verdict == "not resolved"
    assert rec.ours() == "0.000 [-0.020, 0.030], n = 49 images"
    rec = measured("x", 0.5, float("nan"), float("nan"), "one value", n=1, unit="models")
    assert (rec.verdict, rec.low, rec.ours()) == ("not resolved", None, "0.500, n = 1 models")


# --- a registry of two chapters, for the recording and the page -----------------------------------
@pytest.fixture
def fake_registry(monkeypatch):
    claims_list = [
        Claim("p-one", "wang2022", "Prop. 1", "a | statement", "an effect", "01_a", "ch01-one",
              paper_value="0.09 s"),
        Claim("p-two", "wang2022", "Table 1", "another", "another effect", "01_a", "ch01-two"),
        Claim("g-one", "groupcam", "Table 3", "fast", "a time ratio", "06_b", "ch06-one",
              reports_value="n/a"),
    ]
    for name in ("fake_a", "fake_b"):
        module = types.ModuleType(f"whynot.claims.{name}")
        module.CLAIMS = [c for c in claims_list if c.chapter == {"fake_a": "01_a", "fake_b": "06_b"}[name]]
        monkeypatch.setitem(sys.modules, f"whynot.claims.{name}", module)
    monkeypatch.setattr(claims, "REGISTRY_MODULES", ("fake_a", "fake_b"))
    return claims_list


def test_record_writes_each_chapter_file_and_merges_by_claim(fake_registry, tmp_path, monkeypatch):
    monkeypatch.setenv(claims.CLAIMS_DIR_ENV, str(tmp_path))
    claims.record(Record("p-one", "holds", "first"), [Record("g-one", "not tested", "no time")])
    claims.record(Record("p-one", "does not hold", "second"), Record("p-two", "holds", "ok"))
    saved = json.loads((tmp_path / "01_a.json").read_text())
    assert saved["chapter"] == "01_a"
    assert {r["claim"]: r["why"] for r in saved["records"]} == {"p-one": "second", "p-two": "ok"}
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["01_a.json", "06_b.json"]  # no temp files
    with pytest.raises(ClaimError, match="unknown claim"):
        claims.record(Record("nope", "holds", "why"))


def test_registry_refuses_duplicate_ids(fake_registry, monkeypatch):
    monkeypatch.setattr(claims, "REGISTRY_MODULES", ("fake_a", "fake_a"))
    with pytest.raises(ClaimError, match="twice"):
        claims.registry()


def _write(folder, chapter, *records):
    folder.mkdir(exist_ok=True)
    rows = [vars(r) for r in records]
    (folder / f"{chapter}.json").write_text(json.dumps({"chapter": chapter, "records": rows}))


def test_collect_fails_loudly_on_a_missing_or_unknown_record(fake_registry, tmp_path):
    _write(tmp_path, "01_a", Record("p-one", "holds", "why"), Record("p-two", "holds", "why"))
    with pytest.raises(ClaimError, match="06_b.json is missing"):
        claims_page.collect(tmp_path)
    _write(tmp_path, "06_b", Record("p-two", "holds", "why"))
    with pytest.raises(ClaimError, match="registers"):
        claims_page.collect(tmp_path)
    _write(tmp_path, "06_b")
    with pytest.raises(ClaimError, match=r"no verdict for \['g-one'\]"):
        claims_page.collect(tmp_path)
    _write(tmp_path, "06_b", Record("g-one", "holds", "why"), Record("g-zzz", "holds", "why"))
    with pytest.raises(ClaimError, match="no chapter registers"):
        claims_page.collect(tmp_path)
    rows = json.loads((tmp_path / "01_a.json").read_text())
    rows["records"][0]["verdict"] = "confirmed"
    (tmp_path / "01_a.json").write_text(json.dumps(rows))
    with pytest.raises(ClaimError, match="vocabulary"):
        claims_page.collect(tmp_path)


def test_page_has_one_row_per_claim_and_a_summary_per_paper(fake_registry, tmp_path):
    _write(tmp_path, "01_a", Record("p-one", "holds", "why", 0.5, 0.4, 0.6, 81, data="SynthBirds"),
           Record("p-two", "does not hold", "because"))
    _write(tmp_path, "06_b", Record("g-one", "needs the full profile", "ImageNet"))
    found = claims_page.collect(tmp_path)
    assert claims_page.summary(found) == {
        "wang2022": "2 claims: 1 holds, 1 does not hold",
        "groupcam": "1 claim: 1 needs the full profile",
    }
    text = claims_page.render(found)
    entries = [e for e in text.split("\n* ") if "\\\n  " in e]  # one item per claim
    assert len(entries) == 3
    assert all(entry.count("\\\n  ") == 2 for entry in entries)
    assert r"**Prop. 1**: a \| statement" in entries[0] and "**holds**: why" in entries[0]
    assert "0.500 [0.400, 0.600], n = 81 images; SynthBirds; {ref}`chapter 01 <ch01-one>`" in entries[0]
    assert "paper: 0.09 s" in entries[0] and "reports: n/a" in entries[2]
    assert "{ref}`Group-CAM (Zhang, Rao & Yang, 2021) <claims-groupcam>`" in text


def test_readme_section_is_replaced_between_its_markers(fake_registry, tmp_path):
    _write(tmp_path, "01_a", Record("p-one", "holds", "why"), Record("p-two", "holds", "why"))
    _write(tmp_path, "06_b", Record("g-one", "not tested", "why"))
    found = claims_page.collect(tmp_path)
    readme = f"intro\n{claims_page.README_START}\nstale text\n{claims_page.README_END}\nrest\n"
    new = claims_page.readme_section(readme, found, "book/claims.md")
    assert "stale text" not in new and new.startswith("intro\n") and new.endswith("rest\n")
    assert "[Why Not Other Classes? (Wang & Wang, NeurIPS 2022)](book/claims.md): 2 claims" in new
    assert claims_page.readme_section(new, found, "book/claims.md") == new
    with pytest.raises(ClaimError, match="markers"):
        claims_page.readme_section("no markers", found, "x")


# --- the book's registry and committed records ----------------------------------------------------
def test_registered_claims_name_real_chapters_and_their_section_labels():
    names = book.notebook_names()
    for claim in claims.registry().values():
        assert claim.chapter in names, claim.id
        source = (ROOT / "notebooks" / f"{claim.chapter}.md").read_text()
        assert re.search(rf"^\({re.escape(claim.section)}\)=$", source, re.M), (
            f"{claim.id}: no `({claim.section})=` label in notebooks/{claim.chapter}.md"
        )


def test_each_registry_module_registers_its_own_chapter():
    for name in claims.REGISTRY_MODULES:
        module = importlib.import_module(f"whynot.claims.{name}")
        assert module.CHAPTER.startswith(name.removeprefix("ch") + "_")
        assert all(c.chapter == module.CHAPTER for c in module.CLAIMS), name


def test_committed_claims_page_is_complete_and_current():
    """Every registered claim has a record from the executed book, and the generated page,
    front-page summary and README section match them (`python -m whynot.book claims`)."""
    assert book.generate_claims(book.CLAIMS_RECORDS, check=True) == 0
