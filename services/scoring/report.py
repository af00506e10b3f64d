"""Report writers: score cells as JSON, CSV and Markdown, with the study's three tables (model x
benchmark accuracy for all, reasoning and understanding questions) and the consistency check.

Input everywhere: ``runs``, a mapping of model (or run) name -> its score cells; a bare list of
cells is taken as one unnamed run.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence, Union

from services.scoring.aggregate import ScoreCell
from services.scoring.judge import SCORER_NAME, SCORER_VERSION
from services.scoring.summary import STUDY_BENCHMARKS, ConsistencyFlag, consistency_flags, study_mean

Runs = Union[Mapping[str, Sequence[ScoreCell]], Sequence[ScoreCell]]
CELL_FIELDS = ("benchmark", "split", "facet", "value", "metric", "value_mean", "ci_low", "ci_high", "n", "n_unparsed")
# The study's three tables: name -> (facet, value) of the cells they show.
STUDY_TABLES = {
    "all": ("all", "all"),
    "reasoning": ("reasoning_level", "reasoning"),
    "understanding": ("reasoning_level", "understanding"),
}


def as_runs(runs: Runs) -> dict[str, list[ScoreCell]]:
    if isinstance(runs, Mapping):
        return {str(name): list(cells) for name, cells in runs.items()}
    return {"": list(runs)}


@dataclass(frozen=True)
class StudyTable:
    name: str                                          # 'all', 'reasoning' or 'understanding'
    metric: str
    columns: tuple[str, ...]                           # benchmark, or "benchmark (split)" when splits differ
    rows: dict[str, dict[str, ScoreCell | None]]       # model -> column -> cell
    means: dict[str, ScoreCell | None]                 # model -> mean over its benchmarks in the table


def _column_order(benchmark: str) -> tuple:
    rank = STUDY_BENCHMARKS.index(benchmark) if benchmark in STUDY_BENCHMARKS else len(STUDY_BENCHMARKS)
    return (rank, benchmark)


def study_tables(runs: Runs, *, metric: str = "accuracy") -> dict[str, StudyTable]:
    runs = as_runs(runs)
    splits: dict[str, set[str]] = {}
    for cells in runs.values():
        for cell in cells:
            splits.setdefault(cell.benchmark, set()).add(cell.split)

    def column(cell: ScoreCell) -> str:
        return cell.benchmark if len(splits[cell.benchmark]) == 1 else f"{cell.benchmark} ({cell.split})"

    tables = {}
    for name, (facet, value) in STUDY_TABLES.items():
        rows: dict[str, dict[str, ScoreCell | None]] = {}
        means: dict[str, ScoreCell | None] = {}
        for model, cells in runs.items():
            chosen = [c for c in cells if (c.facet, c.value, c.metric) == (facet, value, metric)]
            rows[model] = {column(c): c for c in chosen}
            try:
                means[model] = study_mean(chosen, facet=facet, value=value, metric=metric)
            except ValueError:  # two splits of one benchmark: no single mean
                means[model] = None
        columns = sorted({col for row in rows.values() for col in row},
                         key=lambda col: (*_column_order(col.split(" (")[0]), col))
        tables[name] = StudyTable(name, metric, tuple(columns),
                                  {m: {col: row.get(col) for col in columns} for m, row in rows.items()}, means)
    return tables


def all_flags(runs: Runs) -> list[tuple[str, ConsistencyFlag]]:
    return [(model, flag) for model, cells in as_runs(runs).items() for flag in consistency_flags(cells)]


# ---------------------------------------------------------------------------------------------
# JSON

def report_dict(runs: Runs, *, scorer: str = SCORER_NAME, scorer_version: str = SCORER_VERSION) -> dict:
    runs = as_runs(runs)
    tables = study_tables(runs)
    return {
        "scorer": scorer,
        "scorer_version": scorer_version,
        "runs": {model: [asdict(c) for c in cells] for model, cells in runs.items()},
        "tables": {
            name: {
                "metric": table.metric,
                "columns": list(table.columns),
                "rows": {m: {col: asdict(c) if c else None for col, c in row.items()} for m, row in table.rows.items()},
                "mean": {m: asdict(c) if c else None for m, c in table.means.items()},
            }
            for name, table in tables.items()
        },
        "consistency": [{"model": model, **asdict(flag), "message": flag.message} for model, flag in all_flags(runs)],
        "published": published_comparison(runs),
    }


def to_json(runs: Runs, **scorer) -> str:
    return json.dumps(report_dict(runs, **scorer), indent=2, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# CSV: one row per cell

def to_csv(runs: Runs, *, scorer: str = SCORER_NAME, scorer_version: str = SCORER_VERSION) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("model", "scorer", "scorer_version", *CELL_FIELDS))
    for model, cells in as_runs(runs).items():
        for cell in cells:
            writer.writerow((model, scorer, scorer_version,
                             *("" if getattr(cell, f) is None else getattr(cell, f) for f in CELL_FIELDS)))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Markdown

def _score(cell: ScoreCell | None, with_ci: bool = True) -> str:
    if cell is None:
        return "–"
    text = f"{cell.value_mean:.4f}"
    if with_ci and cell.ci_low is not None:
        text += f" ({cell.ci_low:.3f}–{cell.ci_high:.3f})"
    return text


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def study_tables_markdown(runs: Runs) -> str:
    lines = []
    for name, table in study_tables(runs).items():
        title = "all questions" if name == "all" else f"{name} questions"
        lines += [f"### {table.metric.capitalize()}, {title}", ""]
        if not table.columns:
            lines += ["No scored questions carry this label yet (see `medgrid skills label`).", ""]
            continue
        lines.append("| model | " + " | ".join(_escape(c) for c in table.columns) + " | mean |")
        lines.append("|---|" + "---:|" * (len(table.columns) + 1))
        for model, row in table.rows.items():
            present = sum(cell is not None for cell in row.values())
            mean = _score(table.means[model], with_ci=False)
            if table.means[model] is not None and present < len(table.columns):
                mean += f" ({present}/{len(table.columns)})"
            scores = " | ".join(_score(row[c]) for c in table.columns)
            lines.append(f"| {_escape(model) or 'run'} | {scores} | {mean} |")
        lines.append("")
    lines.append("Scores with 95% cluster-bootstrap intervals. A mean over fewer than all columns "
                 "shows how many it covers.")
    return "\n".join(lines) + "\n"


def cells_markdown(cells: Sequence[ScoreCell]) -> str:
    lines = ["| benchmark | split | facet | value | metric | score | 95% CI | n | unparsed |",
             "|---|---|---|---|---|---:|---|---:|---:|"]
    for c in cells:
        ci = f"{c.ci_low:.3f}–{c.ci_high:.3f}" if c.ci_low is not None else "–"
        lines.append(f"| {_escape(c.benchmark)} | {_escape(c.split)} | {_escape(c.facet)} | {_escape(c.value)} "
                     f"| {c.metric} | {c.value_mean:.4f} | {ci} | {c.n} | {c.n_unparsed} |")
    return "\n".join(lines) + "\n"


def published_comparison(runs: Runs) -> list[dict]:
    """Our accuracy (all questions) beside the study's published one, for roster models it reports."""
    from services.scoring.published import published_accuracy

    rows = []
    for model, cells in as_runs(runs).items():
        for cell in cells:
            if cell.facet != "all" or cell.metric != "accuracy":
                continue
            published = published_accuracy(model, cell.benchmark)
            if published is not None:
                rows.append({"model": model, "benchmark": cell.benchmark, "split": cell.split,
                             "medgrid": cell.value_mean, "ci_low": cell.ci_low, "ci_high": cell.ci_high,
                             "published": published, "difference": cell.value_mean - published,
                             "published_inside_ci": cell.ci_low is not None and cell.ci_low <= published <= cell.ci_high})
    return rows


def published_markdown(runs: Runs) -> str:
    from services.scoring.published import SOURCE

    rows = published_comparison(runs)
    if not rows:
        return "No model in this report has a published number (roster ids only).\n"
    lines = [f"Published: {SOURCE}. The study did not publish decoding or extraction settings, so a "
             "difference reflects protocol as well as model.", "",
             "| model | benchmark | medgrid (95% CI) | published | difference |", "|---|---|---:|---:|---:|"]
    for r in rows:
        ci = f" ({r['ci_low']:.3f}–{r['ci_high']:.3f})" if r["ci_low"] is not None else ""
        lines.append(f"| {_escape(r['model'])} | {_escape(r['benchmark'])} | {r['medgrid']:.4f}{ci} | "
                     f"{r['published']:.4f} | {r['difference']:+.4f} |")
    return "\n".join(lines) + "\n"


def to_markdown(runs: Runs, *, scorer: str = SCORER_NAME, scorer_version: str = SCORER_VERSION) -> str:
    runs = as_runs(runs)
    parts = [f"# medgrid report\n\nScorer: {scorer} {scorer_version}\n", "## The study's tables\n",
             study_tables_markdown(runs), "## Against the published numbers\n", published_markdown(runs),
             "## Consistency\n"]
    flags = all_flags(runs)
    parts.append("\n".join(f"- {model + ': ' if model else ''}{flag.message}" for model, flag in flags) + "\n"
                 if flags else "No overall score lies outside its parts.\n")
    for model, cells in runs.items():
        parts += [f"## {model or 'Scores'}\n", cells_markdown(cells)]
    return "\n".join(parts)


WRITERS = {"json": to_json, "csv": to_csv, "md": to_markdown}


def write_report(runs: Runs, out_dir: str | Path, *, stem: str = "report",
                 formats: Sequence[str] = ("json", "csv", "md"), **scorer) -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.csv`` and ``<stem>.md`` under ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt in formats:
        if fmt not in WRITERS:
            raise ValueError(f"unknown report format {fmt!r}; valid: {', '.join(WRITERS)}")
        path = out / f"{stem}.{fmt}"
        path.write_text(WRITERS[fmt](runs, **scorer), encoding="utf-8")
        written[fmt] = path
    return written
