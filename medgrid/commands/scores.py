"""`medgrid score` (re-score stored predictions, or score a predictions file) and `medgrid report`."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _factory(settings):
    from db.session import make_engine, make_sessionmaker, upgrade

    upgrade(settings.resolved_database_url)
    return make_sessionmaker(make_engine(settings.resolved_database_url))


def _echo_cells(cells, as_json: bool, extra: dict | None = None) -> None:
    from medgrid.cli import format_score_table

    if as_json:
        click.echo(json.dumps({**(extra or {}), "cells": [c.__dict__ for c in cells]}, indent=1))
    else:
        click.echo(format_score_table(cells))


@click.command("score")
@click.option("--run", "run_id", default=None, help="re-score a stored run with the current scorers (no inference)")
@click.option("--benchmark", "benchmark_name", default=None, help="with --data and --predictions: score a file")
@click.option("--data", default=None, help="the benchmark's folder")
@click.option("--split", default=None)
@click.option("--option", "adapter_options", multiple=True, metavar="KEY=VALUE")
@click.option("--predictions", "predictions_file", default=None, type=click.Path(dir_okay=False),
              help='JSON lines: {"id": ..., "response": ...} with ids as `benchmarks inspect` reports them')
@click.option("--scorer", default="medgrid", show_default=True, help="scorer name (compatibility scorers too)")
@click.option("--json", "as_json", is_flag=True)
def score(run_id, benchmark_name, data, split, adapter_options, predictions_file, scorer, as_json):
    """Recompute scores from stored predictions, or score predictions made elsewhere."""
    from medgrid.cli import _parse_options
    from medgrid.errors import UserError, load_settings

    settings = load_settings()
    if run_id:
        if benchmark_name or predictions_file:
            raise UserError("give either --run, or --benchmark with --data and --predictions")
        from services import runs

        factory = _factory(settings)
        try:
            cells = runs.score_run(factory, run_id, seed=settings.seed, resamples=settings.bootstrap_resamples)
        except KeyError:
            raise UserError(f"no run {run_id} in {settings.resolved_database_url}") from None
        _echo_cells(cells, as_json, {"run_id": run_id})
        return
    if not (benchmark_name and data and predictions_file):
        raise UserError("give --run ID, or --benchmark NAME --data PATH --predictions FILE.jsonl")
    from services.benchmarks.registry import load_samples
    from services.scoring import SCORERS
    from services.scoring.predictions import PredictionsFileError, read_predictions_jsonl, score_predictions

    if scorer not in SCORERS:
        raise UserError(f"unknown scorer {scorer!r}; valid: {', '.join(sorted(SCORERS))}")
    samples = load_samples(benchmark_name, data, split, settings=settings, **_parse_options(adapter_options))
    try:
        predictions = read_predictions_jsonl(predictions_file)
    except PredictionsFileError as exc:
        raise UserError(str(exc)) from None
    result = score_predictions([s.record() for s in samples], predictions, scorer=scorer, seed=settings.seed,
                               resamples=settings.bootstrap_resamples)
    _echo_cells(result.cells, as_json, {"missing_ids": result.missing_ids, "unknown_ids": result.unknown_ids})
    if not as_json and (result.missing_ids or result.unknown_ids):
        click.echo(f"{len(result.missing_ids)} sample(s) had no prediction (counted unparsed); "
                   f"{len(result.unknown_ids)} prediction id(s) matched no sample (ignored)", err=True)


@click.command("report")
@click.option("--run", "run_ids", multiple=True, required=True, help="a run id; repeat for several runs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--format", "formats", multiple=True, type=click.Choice(["json", "csv", "md"]),
              default=("json", "csv", "md"), show_default=True)
def report(run_ids, out_dir, formats):
    """Write JSON, CSV and Markdown reports, with the study's model x benchmark tables, for stored runs."""
    from medgrid.errors import UserError, load_settings
    from services import runs
    from services.scoring.report import write_report

    factory = _factory(load_settings())
    by_model: dict[str, list] = {}
    for run_id in run_ids:
        try:
            run, cells = runs.stored_cells(factory, run_id)
        except KeyError:
            raise UserError(f"no run {run_id}") from None
        if not cells:
            raise UserError(f"run {run_id} has no scores yet (status {run['status']}); try `medgrid score --run {run_id}`")
        label = run["model_id"] if run["model_id"] not in by_model else f"{run['model_id']} ({run_id[:8]})"
        by_model[label] = cells
    for fmt, path in write_report(by_model, Path(out_dir), formats=formats).items():
        click.echo(f"{fmt}: {path}")
