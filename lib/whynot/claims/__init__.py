"""The book's claims and their verdicts: one registry, one vocabulary, one rule.

Every checkable claim of the five papers is a :class:`Claim`, registered by the chapter that
measures it (``whynot.claims.chNN``, in book order). An executed chapter turns its measurements
into :class:`Record` s through its experiment module and hands them to :func:`record`, which
checks them against the registry and writes them, atomically, to ``$WHYNOT_CLAIMS_DIR/NAME.json``
(``python -m whynot.book execute`` sets it next to the executed notebooks). The claims page is
generated from those files (``whynot.claims.page``), never typed and never recomputed.

The verdict vocabulary (:data:`VERDICTS`) is the same everywhere. A measured claim is judged by
one rule (:func:`judge`): where its 95 % interval lies against the claim's boundary, in the
direction the claim states (read from a metric's ``DIRECTION`` where the claim is about one),
with interval bounds within :data:`~whynot.stats.VERDICT_RESOLUTION` of the boundary counted as
on it, so that no CPU's round-off can flip a printed verdict.

>>> judge(0.012, 0.030, "higher"), judge(-0.2, 0.1, "higher"), judge(0.2, 0.4, "lower")
('holds', 'not resolved', 'does not hold')
>>> combine(["holds", "holds", "not resolved"])
'partly holds'
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Sequence

from whynot import rehearsal
from whynot.report import fixed
from whynot.stats import VERDICT_RESOLUTION, verdict as _side_of_zero
from whynot.utils import save_json

VERDICTS: dict[str, str] = {
    "holds": "our 95 % interval lies on the side of the boundary that the claim states",
    "partly holds": "it holds in some of the settings the claim covers (models, methods, data) "
    "and not in others",
    "does not hold": "our 95 % interval lies on the other side of the boundary",
    "not resolved": "our 95 % interval covers the claim's boundary",
    "needs the full profile": "it needs real data or pretrained models that cannot be had "
    "offline; the full profile runs it",
    "not tested": "we do not measure it; the record says why",
}
MEASURED = ("holds", "partly holds", "does not hold", "not resolved")

PAPERS: dict[str, str] = {
    "wang2022": "Why Not Other Classes? (Wang & Wang, NeurIPS 2022)",
    "reports": "The reproducibility reports (KTH and anonymous)",
    "groupcam": "Group-CAM (Zhang, Rao & Yang, 2021)",
    "abscam": "Abs-CAM (Zeng et al., 2022)",
}

CLAIMS_DIR_ENV = "WHYNOT_CLAIMS_DIR"
REGISTRY_MODULES = ("ch00", "ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07")
DIRECTIONS = ("higher", "lower")


class ClaimError(ValueError):
    """A claim or record that the registry does not accept."""


@dataclass(frozen=True)
class Claim:
    """A checkable claim, as a paper states it.

    ``id``: short and stable (``"wang-prop2"``); ``paper``: a key of :data:`PAPERS`; ``where``:
    table, figure, proposition or section (``"Table 1"``, ``"Sec. 5.3"``); ``statement``: the
    claim as printed, short and faithful (quote it); ``measure``: what we measure to test it;
    ``chapter``: the notebook stem that records it; ``section``: the MyST label of the chapter
    section that measures it; ``paper_value`` / ``reports_value``: their numbers as printed,
    where they give one.
    """

    id: str
    paper: str
    where: str
    statement: str
    measure: str
    chapter: str
    section: str
    paper_value: str = ""
    reports_value: str = ""

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise ClaimError(f"claim {self.id!r}: paper {self.paper!r} is not one of {sorted(PAPERS)}")
        for name in ("id", "where", "statement", "measure", "chapter", "section"):
            if not getattr(self, name).strip():
                raise ClaimError(f"claim {self.id!r}: `{name}` is empty; every claim needs one")


@dataclass(frozen=True)
class Record:
    """What a chapter found for one claim.

    ``effect``, ``low``, ``high``: the measured effect and its 95 % interval (None where the
    verdict is not measured); ``n`` counts ``unit`` (``"images"``, ``"maps"``, ``"models"``,
    ``"settings"``: say which); ``data`` and ``model``: what it was measured on; ``why``: one line
    that explains the verdict; ``decimals``: how many the computation determines (for printing).
    """

    claim: str
    verdict: str
    why: str
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    unit: str = "images"
    data: str = ""
    model: str = ""
    decimals: int = 3

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ClaimError(
                f"claim {self.claim!r}: verdict {self.verdict!r} is not in the vocabulary "
                f"{list(VERDICTS)}; judge measured claims with whynot.claims.judge"
            )
        if not self.why.strip():
            raise ClaimError(f"claim {self.claim!r}: a record needs one line `why`")
        for name in ("effect", "low", "high"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ClaimError(f"claim {self.claim!r}: `{name}` is {value}; give None where undefined")

    def ours(self) -> str:
        """The effect as the page prints it: ``0.056 [0.044, 0.069], n = 81 images``."""
        parts = []
        if self.effect is not None:
            text = fixed(self.effect, self.decimals)
            if self.low is not None and self.high is not None:
                text += f" [{fixed(self.low, self.decimals)}, {fixed(self.high, self.decimals)}]"
            parts.append(text)
        if self.n is not None:
            parts.append(f"n = {self.n} {self.unit}")
        return ", ".join(parts)


# --- the rule ----------------------------------------------------------------------------------
def direction_of(metric: ModuleType | Callable | str) -> str:
    """``"higher"`` or ``"lower"``: a metric's declared ``DIRECTION`` (which way is better),
    read from its module (or from the module that defines a metric function), or the string."""
    if callable(metric):  # `from whynot.metrics import deletion` gives the function
        metric = sys.modules[metric.__module__]
    direction = getattr(metric, "DIRECTION", metric)
    if direction not in DIRECTIONS:
        raise ClaimError(
            f"direction {direction!r} is not one of {DIRECTIONS}; pass 'higher', 'lower' or a "
            "metric module whose DIRECTION is one of them"
        )
    return direction


def judge(low: float, high: float, claimed: ModuleType | Callable | str = "higher", boundary: float = 0.0,
          resolution: float = VERDICT_RESOLUTION) -> str:
    """The verdict on a claim that an effect lies ``claimed`` (``"higher"`` / ``"lower"``, or a
    metric module: its ``DIRECTION``, for "better on this metric") than ``boundary``, from the
    effect's 95 % interval ``[low, high]``.

    ``holds`` when the whole interval lies on the claimed side, ``does not hold`` when it lies on
    the other, ``not resolved`` when it covers the boundary, comes within ``resolution`` of it
    (round-off must not decide), or is undefined (NaN).
    """
    sign = 1 if direction_of(claimed) == "higher" else -1
    return _side_of_zero(low - boundary, high - boundary, sign, resolution)


def combine(verdicts: Iterable[str]) -> str:
    """One verdict for a claim tested in several settings (models, methods, data sets):
    ``holds`` / ``does not hold`` when every setting agrees, ``partly holds`` when some hold and
    others do not, ``does not hold`` when none holds and some do not, else ``not resolved``."""
    found = Counter(verdicts)
    unknown = set(found) - set(MEASURED)
    if not found or unknown:
        raise ClaimError(f"combine() takes measured verdicts {MEASURED}; got {sorted(unknown) or 'none'}")
    if set(found) == {"holds"}:
        return "holds"
    if found["holds"] or found["partly holds"]:
        return "partly holds"
    if found["does not hold"]:
        return "does not hold"
    return "not resolved"


def measured(claim: str, effect: float, low: float, high: float, why: str,
             claimed: ModuleType | Callable | str = "higher", boundary: float = 0.0, **context) -> Record:
    """A :class:`Record` judged by :func:`judge` from an effect and its interval (``context``:
    ``n``, ``unit``, ``data``, ``model``, ``decimals``). Undefined numbers are kept as None."""
    def finite(value):
        return None if value is None or not math.isfinite(value) else float(value)

    return Record(claim, judge(low, high, claimed, boundary), why, finite(effect), finite(low),
                  finite(high), **context)


def needs_full_profile(claim: str, why: str) -> Record:
    """A claim that only real data or pretrained models can test: ``why`` says what the full
    profile runs."""
    return Record(claim, "needs the full profile", why)


def not_tested(claim: str, why: str) -> Record:
    """A claim we do not measure, with the reason."""
    return Record(claim, "not tested", why)


# --- the registry ------------------------------------------------------------------------------
def registry() -> dict[str, Claim]:
    """Every registered claim, by id, in book order (chapter modules ``whynot.claims.chNN``)."""
    claims: dict[str, Claim] = {}
    for name in REGISTRY_MODULES:
        for claim in importlib.import_module(f"whynot.claims.{name}").CLAIMS:
            if claim.id in claims:
                raise ClaimError(f"claim id {claim.id!r} is registered twice; ids must be unique")
            claims[claim.id] = claim
    return claims


def claims_of(chapter: str) -> list[Claim]:
    """The claims that notebook ``chapter`` records."""
    return [c for c in registry().values() if c.chapter == chapter]


def record(*records: Record | Sequence[Record]):
    """Check ``records`` against the registry, save them for the claims page (when
    ``$WHYNOT_CLAIMS_DIR`` is set: merged into that folder's ``CHAPTER.json``, written
    atomically) and return them as a table for the reader (:func:`record_table`)."""
    flat = [r for item in records for r in ([item] if isinstance(item, Record) else item)]
    if rehearsal.active():  # random weights on fixtures: say so wherever the records go
        flat = [dataclasses.replace(r, why=f"rehearsal, random weights: {r.why}") for r in flat]
    claims = registry()
    for r in flat:
        if r.claim not in claims:
            raise ClaimError(f"record for unknown claim {r.claim!r}: register it in whynot.claims.chNN")
    folder = os.environ.get(CLAIMS_DIR_ENV)
    if folder:
        for chapter in sorted({claims[r.claim].chapter for r in flat}):
            path = Path(folder) / f"{chapter}.json"
            saved = load_records(path) if path.exists() else {}
            saved.update({r.claim: r for r in flat if claims[r.claim].chapter == chapter})
            save_json({"chapter": chapter, "records": [dataclasses.asdict(r) for r in saved.values()]}, path)
    _RECORDED.update({r.claim: r for r in flat})
    return record_table(flat)


# Records made in this Python process, for the chapter's findings (:func:`findings`).
_RECORDED: dict[str, Record] = {}


def record_table(records: Sequence[Record]):
    """The records as a :func:`whynot.tables.table`: where the paper says it, the papers' and
    the reports' numbers (where they print one), ours, the verdict and why."""
    import pandas as pd

    from whynot.tables import table

    claims = registry()
    theirs = {r.claim: "; ".join(
        f"{who}: {value}" for who, value in (("paper", claims[r.claim].paper_value),
                                             ("reports", claims[r.claim].reports_value)) if value
    ) for r in records}
    rows = pd.DataFrame(
        [{"claim": claims[r.claim].where, "theirs": theirs[r.claim] or None,
          "ours": r.ours() or None, "verdict": r.verdict, "why": r.why} for r in records],
        columns=["claim", "theirs", "ours", "verdict", "why"],
    )
    if not any(theirs.values()):
        rows = rows.drop(columns="theirs")
    return table(rows, headers={"theirs": "paper / reports", "ours": "ours"}, keys=1,
                 width=10**6, undefined="no number: the verdict is not measured or the paper "
                 "prints none", fold=10**6)


_SHORT_PAPERS = {"wang2022": "Wang & Wang", "reports": "the reports", "groupcam": "Group-CAM",
                 "abscam": "Abs-CAM"}


def _markdown_text(text: str, limit: int = 110) -> str:
    """``text`` shortened at a word to about ``limit`` characters, with Markdown's and MyST's
    special characters escaped (math, emphasis, roles)."""
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.") + " …"
        if text.count('"') % 2:
            text += '"'
    return "".join("\\" + ch if ch in "\\`*_[]{}<>$|#" else ch for ch in text)


def findings(chapter: str) -> str:
    """What ``chapter`` found, as a MyST admonition for the top of its page: the tally of its
    verdicts, then one line per claim (verdict, where, the claim, shortened, linked to the
    section that measures it), from the records made in this process (:func:`record`), with
    a link to the claims page.

    >>> print(findings("no_such_chapter"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    whynot.claims.ClaimError: no claim is registered for chapter 'no_such_chapter'...
    """
    registered = claims_of(chapter)
    if not registered:
        raise ClaimError(f"no claim is registered for chapter {chapter!r}: pass a notebook stem "
                         "such as '05_vision_transformers'")
    missing = [c.id for c in registered if c.id not in _RECORDED]
    if missing:
        raise ClaimError(f"{chapter}: no record yet for {missing}; call findings() after the "
                         "chapter has recorded every claim (claims.record)")
    verdicts = [_RECORDED[c.id].verdict for c in registered]
    noun = "claim" if len(registered) == 1 else "claims"
    lines = [
        "```{admonition} What this chapter found",
        ":class: tip",
        "",
        f"{len(registered)} {noun} tested: {tally(verdicts)}. Every verdict, with its numbers "
        "and the papers', is on the {ref}`claims page <claims>`.",
        "",
    ]
    for claim, verdict in zip(registered, verdicts):
        where = _markdown_text(claim.where, 40)
        lines.append(f"* **{verdict}**: {{ref}}`{where} <{claim.section}>` "
                     f"({_SHORT_PAPERS.get(claim.paper, claim.paper)}): "
                     f"{_markdown_text(claim.statement)}")
    lines.append("```")
    return "\n".join(lines) + "\n"


GLUE_PREFIX = "application/papermill.record/"  # myst-nb's glue, without importing myst-nb


def glue_findings(chapter: str, name: str = "findings") -> None:
    """Store :func:`findings` in the executed notebook for the page's top, where
    ``{glue:md} findings`` with ``:format: myst`` shows it (myst-nb's glue, which reads the
    output's ``scrapbook`` metadata). Nothing is displayed in the notebook itself."""
    from IPython.display import display

    display({GLUE_PREFIX + "text/markdown": findings(chapter)}, raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


def load_records(path: str | os.PathLike) -> dict[str, Record]:
    """The records of one chapter's file, by claim id (a malformed file raises ClaimError)."""
    try:
        rows = json.loads(Path(path).read_text())["records"]
        return {row["claim"]: Record(**row) for row in rows}
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ClaimError(f"{path} is not a claims file ({e}); re-execute its chapter") from None


def tally(verdicts: Iterable[str]) -> str:
    """``"5 hold, 2 do not hold, 3 not resolved"``: counts in vocabulary order, zeros left out."""
    found = Counter(verdicts)
    plural = {"holds": "hold", "partly holds": "partly hold", "does not hold": "do not hold",
              "needs the full profile": "need the full profile"}
    return ", ".join(
        f"{found[v]} {v if found[v] == 1 else plural.get(v, v)}" for v in VERDICTS if found[v]
    )
