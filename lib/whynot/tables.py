"""Result tables the way a paper prints them: one helper for every chapter.

:func:`table` turns a DataFrame of results into a :class:`Table` that renders as a clean HTML
table in the book and prints the same plain text on any machine (its cells are formatted with
:func:`whynot.report.fixed`, so a checked cell may show it):

* human column headers with units (:data:`HEADERS`, the chapter dicts below, or ``headers=``);
* an estimate and its 95 % interval in one column, ``0.056 [0.044, 0.069]``, from the columns
  ``x, x_low, x_high`` (or ``estimate, low, high``) or ``x, x_ci`` (a half-width);
* undefined values as a dash with a footnote that says why, never ``nan``;
* a width that fits the book's text column: a table wider than :data:`PAGE_CHARACTERS` is split
  into several tables that repeat its key columns, and a table longer than ``fold`` rows sits
  behind a dropdown (an HTML ``<details>``) that a reader opens.

>>> import pandas as pd
>>> frame = pd.DataFrame({"model": ["vgg", "vit"], "mass": [0.0561, float("nan")],
...                       "mass_low": [0.0442, 0.0], "mass_high": [0.0693, 0.0]})
>>> print(table(frame, headers={"mass": "part mass"}, undefined="no positive pixel"))
model             part mass
vgg    0.056 [0.044, 0.069]
vit                       —
Brackets: 95 % interval.
—: no positive pixel.
"""
from __future__ import annotations

import html
import math
import re
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from whynot.report import fixed

# About 80 characters of the table font fit the book's text column at its default width
# (sphinx-book-theme, 1280 px window); a wider table is split.
PAGE_CHARACTERS = 80
WRAP_CHARACTERS = 20  # a text cell longer than this wraps onto more lines (numbers never do)
FOLD_ROWS = 20
# A number with its interval stays on one line; a longer cell ("..., n = 81 images") may wrap.
NOWRAP_CHARACTERS = 28
DASH = "—"
INTERVAL_NOTE = "Brackets: 95 % interval."
# Counts that a missing value turned into floats print as integers.
COUNTS = {"images", "maps", "n", "undefined", "count", "settings", "scored", "one_part",
          "p2_above"}

# Column names shared by several chapters, and their headers.
HEADERS: dict[str, str] = {
    "model": "model", "method": "method", "contrast": "contrast", "layer": "layer",
    "images": "images", "maps": "maps", "n": "n", "verdict": "verdict", "claim": "claim",
    "setting": "setting", "measure": "measure", "estimate": "estimate", "metric": "metric",
    "eps": "ε", "iterations": "iterations", "outcome": "outcome", "rank": "rank",
    "comparison": "comparison", "source": "source", "seconds": "time (s)",
}

# Values whose format is the same in every table: eps as printed in the papers (3e-3 -> 0.003).
FORMATS: dict[str, Callable[[object], str]] = {"eps": lambda value: f"{value:g}"}
NAMES_WITH_UNDERSCORES = re.compile(r"(synth|efficientnet|vit|vgg|resnet|mobilenet)_")

# Per chapter: what its experiment module's columns mean, with units.
PGD: dict[str, str] = {
    "accuracy_before": "accuracy before", "accuracy": "accuracy after",
    "p_t": "Δp_t", "y_t": "Δy_t (logit)", "best_other": "best other contrast",
    "margin": "weighted − best other",
}
VIT: dict[str, str] = {
    "undefined": "maps without a positive pixel", "mass": "part mass (share)",
    "hit": "pointing hits (share)", "mass_gain": "part mass, weighted − logit",
    "low": "low", "high": "high", "against": "against", "rho": "Spearman ρ", "value": "value",
    "gap": "p1 − p2", "t1 vs own logit": "r(t1 map, t1 logit map)",
    "t2 vs t1 logit": "r(t2 map, t1 logit map)", "part": "part", "corr": "r with logit map",
}
CAM: dict[str, str] = {  # chapters 06-07: deletion / insertion and their friends
    "insertion": "insertion AUC", "deletion": "deletion AUC", "overall": "overall",
    "drop": "average drop (%)", "increase": "increase in confidence (%)",
    "drop_top50": "average drop, top 50 % (%)", "increase_top50": "increase, top 50 % (%)",
    "hit_bird": "pointing on bird", "hit_parts": "pointing on parts",
    "hit_coco": "pointing on COCO boxes", "mass_bird": "mass on bird",
    "mass_parts": "mass on parts", "entropy": "entropy (bits)",
}


@dataclass
class Table:
    """A formatted result table: header and rows as text, shown as HTML in a notebook.

    ``parts`` are the column groups it is split into (each repeats the ``keys`` columns);
    ``notes`` are printed under it; ``fold`` puts it behind a dropdown.
    """

    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    keys: int = 0
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    fold: bool = False
    width: int = PAGE_CHARACTERS

    def parts(self) -> list[list[int]]:
        """Column indices of each part: the key columns, then as many others as fit."""
        widths = [_width(self.header[i], [r[i] for r in self.rows], self.numeric[i])
                  for i in range(len(self.header))]
        keys = list(range(self.keys))
        base = sum(widths[i] for i in keys)
        groups, current, used = [], [], base
        for i in range(self.keys, len(self.header)):
            if current and used + widths[i] > self.width:
                groups.append(keys + current)
                current, used = [], base
            current.append(i)
            used += widths[i]
        groups.append(keys + current)
        return groups

    def __str__(self) -> str:
        lines = [self.caption] if self.caption else []
        for number, columns in enumerate(self.parts()):
            if number:
                lines.append("")
            cells = [[row[i] for i in columns] for row in [self.header, *self.rows]]
            sizes = [max(len(row[j]) for row in cells) for j in range(len(columns))]
            for row in cells:
                text = "  ".join(
                    cell.rjust(size) if self.numeric[i] and j else cell.ljust(size)
                    for j, (i, cell, size) in enumerate(zip(columns, row, sizes))
                )
                lines.append(text.rstrip())
        lines.extend(self.notes)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = "padding:0.3em 0.8em;vertical-align:top;"
        out = []
        for columns in self.parts():
            head = "".join(
                f'<th style="{cell}border-bottom:2px solid #888;text-align:'
                f'{"right" if self.numeric[i] else "left"}">{html.escape(self.header[i])}</th>'
                for i in columns
            )
            body = "".join(
                "<tr>" + "".join(
                    f'<td style="{cell}border-bottom:1px solid #ddd;'
                    + ("text-align:right" if self.numeric[i] else "text-align:left")
                    + (";white-space:nowrap" if self.numeric[i]
                       and len(row[i]) <= NOWRAP_CHARACTERS else "")
                    + f'">{html.escape(row[i])}</td>' for i in columns
                ) + "</tr>" for row in self.rows
            )
            out.append(
                '<table class="whynot-table" style="border-collapse:collapse;margin:0.5em 0;'
                f'font-size:0.85em;max-width:100%"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>"
            )
        notes = "".join(f'<p style="font-size:0.8em;margin:0.2em 0">{html.escape(n)}</p>'
                        for n in self.notes)
        caption = f"<p><b>{html.escape(self.caption)}</b></p>" if self.caption else ""
        content = f'<div class="whynot-table-wrap">{"".join(out)}{notes}</div>'
        if self.fold:
            title = html.escape(self.caption or "The table")
            return (f"<details><summary>{title} ({len(self.rows)} rows): show</summary>"
                    f"{content}</details>")
        return caption + content


def _width(header: str, cells: Sequence[str], numeric: bool = True) -> int:
    """Characters a column takes on the page: its longest cell or header word (text wraps at
    :data:`WRAP_CHARACTERS`, numbers do not), plus the padding between columns."""
    longest = max([len(c) for c in cells] + [max(len(w) for w in header.split() or [""])])
    return (longest if numeric else min(longest, WRAP_CHARACTERS)) + 3


def _undefined(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cell(value, decimals: int = 3, sign: bool = False) -> str:
    """One value as text: a dash where undefined, integers as integers, floats with
    ``decimals`` (never ``-0``), booleans as yes / no.

    >>> cell(0.12345), cell(float("nan")), cell(4), cell(True), cell(-0.0001, 2)
    ('0.123', '—', '4', 'yes', '0.00')
    """
    if _undefined(value):
        return DASH
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return fixed(float(value), decimals, sign)
    return str(value)


def interval(value, low, high, decimals: int = 3, sign: bool = False) -> str:
    """``0.056 [0.044, 0.069]``; the value alone where the bounds are undefined, a dash where
    the value is.

    >>> interval(0.0561, 0.0442, 0.0693), interval(0.5, float("nan"), 1.0, 1)
    ('0.056 [0.044, 0.069]', '0.5')
    """
    if _undefined(value):
        return DASH
    text = cell(float(value), decimals, sign)
    if _undefined(low) or _undefined(high):
        return text
    return f"{text} [{cell(float(low), decimals, sign)}, {cell(float(high), decimals, sign)}]"


def interval_columns(columns: Sequence[str], text: Sequence[str] = ()
                     ) -> dict[str, tuple[str, str, str]]:
    """The estimate / interval groups among ``columns``: ``{x: (x_low, x_high, "bounds")}`` for
    ``x_low``/``x_high`` (or ``x low``/``x high``; ``estimate``/``effect``/``value``/``rho``/
    ``margin`` with bare ``low``/``high``), ``{x: (x_ci, x_ci, "half")}`` for a half-width.
    Columns in ``text`` (labels, not numbers) are never estimates."""
    names = set(columns) - set(text)
    found = {}
    for name in [c for c in columns if c in names]:
        for low, high in ((f"{name}_low", f"{name}_high"), (f"{name} low", f"{name} high")):
            if low in names and high in names:
                found[name] = (low, high, "bounds")
        if f"{name}_ci" in names:
            found[name] = (f"{name}_ci", f"{name}_ci", "half")
    bare = [n for n in ("estimate", "effect", "value", "rho", "margin", "mean") if n in names]
    if bare and {"low", "high"} <= names and not any("low" in g[:2] for g in found.values()):
        found[bare[0]] = ("low", "high", "bounds")
    return found


def table(frame, headers: Mapping[str, str] | None = None, decimals: int | Mapping[str, int] = 3,
          formats: Mapping[str, Callable] | Callable[[object], str] | None = None,
          caption: str = "",
          notes: Sequence[str] = (), undefined: str = "not defined for this row",
          keys: int | None = None, fold: int = FOLD_ROWS, sign: bool | Sequence[str] = (),
          width: int = PAGE_CHARACTERS) -> Table:
    """A :class:`Table` of ``frame`` for the page.

    ``headers``: column name -> header (units in the header: ``"time (s)"``), on top of
    :data:`HEADERS`; other names print with spaces for underscores. ``decimals``: one for all
    floats or per column. ``formats``: column -> function of a value (percentages, say), or
    one function for every column but the keys.
    Interval columns (:func:`interval_columns`) merge into their estimate's column. A named or
    multi-level index becomes the leading key columns (repeated when the table is split; else
    ``keys`` leading columns are the keys). ``sign``: columns printed with ``+`` (True: all
    numbers). Undefined
    values print as a dash, explained by ``undefined`` in a footnote; more than ``fold`` rows
    fold the table behind a dropdown.
    """
    row_numbers = frame.index.nlevels == 1 and frame.index.name is None and (
        frame.index.dtype.kind in "iu")  # a default or concatenated index only numbers the rows
    index_levels = 0 if row_numbers else frame.index.nlevels
    frame = frame.reset_index(drop=row_numbers)
    names = {**HEADERS, **(headers or {})}
    if frame.columns.nlevels > 1:
        frame.columns = [" ".join(names.get(str(p), _header(str(p))) for p in col if str(p))
                         for col in frame.columns]
    frame.columns = [str(c) for c in frame.columns]
    if callable(formats):
        formats = dict.fromkeys(frame.columns[index_levels:], formats)
    formats = {**FORMATS, **(formats or {})}
    labels = [c for c in frame.columns if frame[c].dtype.kind not in "iufb"]
    groups = interval_columns(list(frame.columns), text=labels)
    hidden = {c for low, high, _ in groups.values() for c in (low, high)}
    columns = [c for c in frame.columns if c not in hidden or c in groups]
    places = decimals if isinstance(decimals, Mapping) else {}
    default_places = decimals if isinstance(decimals, int) else 3

    def text(column: str, row) -> str:
        value = row[column]
        if column in formats:
            return DASH if _undefined(value) else formats[column](value)
        digits, plus = places.get(column, default_places), sign is True or column in (sign or ())
        if column in groups:
            low, high, kind = groups[column]
            lo, hi = row[low], row[high]
            if kind == "half" and not (_undefined(value) or _undefined(lo)):
                lo, hi = value - lo, value + hi
            return interval(value, lo, hi, digits, plus)
        if column in COUNTS and not _undefined(value):
            return cell(int(value))
        return cell(value, digits, plus)

    rows = [[text(c, row) for c in columns] for _, row in frame.iterrows()]
    numeric = [
        c in groups or (frame[c].dtype.kind in "iuf" and c not in formats) for c in columns
    ]
    numeric = [n or all(r[i] == DASH or _looks_numeric(r[i]) for r in rows)
               for i, n in enumerate(numeric)]
    all_notes = []
    if groups and any("[" in r[columns.index(c)] for c in groups for r in rows):
        all_notes.append(INTERVAL_NOTE)
    if any(DASH in r for r in rows):
        all_notes.append(f"{DASH}: {undefined}.")
    all_notes.extend(notes)
    header = [names.get(c, _header(c)) for c in columns]
    return Table(header, rows, numeric, index_levels if keys is None else keys, caption,
                 all_notes, fold=len(rows) > fold, width=width)


def _header(name: str) -> str:
    """A column name without a header of its own: variable names lose their underscores,
    names of models and labels (``synth_vgg``, ``ours: synth_vgg``) keep them."""
    if name == "index" or re.fullmatch(r"level_\d+", name):  # an unnamed index level
        return ""
    if name.isidentifier() and not NAMES_WITH_UNDERSCORES.match(name):
        return name.replace("_", " ")
    return name


def _looks_numeric(text: str) -> bool:
    try:
        float(text.split(" [")[0].rstrip("%"))
        return True
    except ValueError:
        return False


def percent(decimals: int = 0) -> Callable[[object], str]:
    """A format for shares printed as percentages: ``percent()(0.25) == '25 %'``."""
    return lambda value: f"{fixed(100 * float(value), decimals)} %"
