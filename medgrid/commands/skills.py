"""``medgrid skills``: train the understanding/reasoning labeller, label a benchmark, report on both.

A trained labeller is saved under ``MEDGRID_HOME/skills/<labeller name>/`` (JSON + npz, nothing
pickled); labels go to the ``sample_labels`` table of ``MEDGRID_DATABASE_URL``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import click

from medgrid.errors import Group, UserError
from medgrid.settings import Settings

EMBEDDER_HELP = "tfidf | minilm (packaged all-MiniLM-L6-v2, text only) | hf:PATH (local Hugging Face model folder)"


class SkillsGroup(Group):
    # Training and labelling also refuse data sklearn cannot fit (too few samples, one class).
    extra_user_errors = (ValueError,)


def _settings() -> Settings:
    return Settings.from_env()


def _embedder(spec: str, use_images: bool):
    from services.skills.embedders import make_embedder

    return make_embedder(spec, use_images=use_images) if spec.startswith("hf:") else make_embedder(spec)


def labeller_folder(settings: Settings, embedder_name: str) -> Path:
    return settings.home / "skills" / f"lr-{embedder_name}"


def _load_labeller(settings: Settings, spec: str):
    from services.skills.labeller import Labeller

    folder = labeller_folder(settings, _embedder(spec, True).name)
    if not (folder / "labeller.json").is_file():
        raise UserError(f"no trained labeller for embedder {spec!r} in {folder}; "
                          f"run: medgrid skills train --data PATH --embedder {spec}")
    return Labeller.load(folder)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _print_report(report: dict) -> None:
    ci, bci = report["accuracy_ci95"], report["balanced_accuracy_ci95"]
    base = report["majority_baseline"]
    (uu, ur), (ru, rr) = report["confusion_matrix"]["counts"]
    click.echo(f"  {report['folds']}-fold stratified CV on n={report['n']} (seed {report['seed']}), "
               f"embedder {report['embedder']['name']} {report['embedder']['version']}")
    click.echo(f"  accuracy          {_percent(report['accuracy'])}  (95% CI {_percent(ci[0])}-{_percent(ci[1])})"
               f"   majority baseline ({base['label']}) {_percent(base['accuracy'])}")
    click.echo(f"  balanced accuracy {_percent(report['balanced_accuracy'])}  "
               f"(95% CI {_percent(bci[0])}-{_percent(bci[1])})   majority baseline 50.0%")
    click.echo(f"  ROC AUC {report['roc_auc']:.3f}; confusion (true x predicted, understanding/reasoning): "
               f"[[{uu}, {ur}], [{ru}, {rr}]]")


@click.group(cls=SkillsGroup)
def skills():
    """Understanding vs reasoning labels: train the labeller, label benchmarks, report."""


@skills.command("train")
@click.option("--data", required=True, help="MedXpertQA-MM folder or JSONL (medxpertqa_mm_input.jsonl or MM/test.jsonl)")
@click.option("--embedder", "embedder_spec", default="minilm", show_default=True, help=EMBEDDER_HELP)
@click.option("--no-images", is_flag=True, help="hf:PATH only: embed the text alone")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 50))
@click.option("--seed", type=int, default=None, help="cross-validation and classifier seed [default: MEDGRID_SEED]")
@click.option("--c", "c", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="inverse regularisation strength of the logistic regression")
@click.option("--sample", type=click.IntRange(min=10), default=None, help="train on N samples drawn with the seed")
@click.option("--json", "as_json", is_flag=True, help="print the cross-validation report as JSON")
def train(data, embedder_spec, no_images, folds, seed, c, sample, as_json):
    """Cross-validate the classifier on MedXpertQA's own labels, then fit it on all of them and save it."""
    from services.skills.data import load_training_samples
    from services.skills.labeller import train_and_report

    settings = _settings()
    seed = settings.seed if seed is None else seed
    embedder = _embedder(embedder_spec, not no_images)
    need_images = embedder_spec.startswith("hf:") and not no_images
    samples = load_training_samples(data, need_images=need_images, sample=sample, seed=seed, settings=settings)
    labeller = train_and_report(embedder, samples, folds=folds, seed=seed, c=c,
                                resamples=settings.bootstrap_resamples)
    folder = labeller.save(labeller_folder(settings, embedder.name))
    if as_json:
        click.echo(json.dumps({**labeller.report, "saved_to": str(folder)}, indent=1))
        return
    click.echo(f"labeller {labeller.name} version {labeller.version} saved to {folder}")
    _print_report(labeller.report)


@skills.command("label")
@click.option("--benchmark", required=True, help="registry name, e.g. slake")
@click.option("--data", required=True, help="the benchmark's folder or file")
@click.option("--split", default=None, help="default: the benchmark's default split")
@click.option("--embedder", "embedder_spec", default="minilm", show_default=True, help=EMBEDDER_HELP)
@click.option("--facet", "facets", multiple=True, help="skill facet to break labels down by [default: all]")
@click.option("--store/--no-store", default=True, show_default=True,
              help="store the labels in the database (registering the samples needs their images)")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="also write the labels as JSON lines")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def label(benchmark, data, split, embedder_spec, facets, store, output, as_json):
    """Label a benchmark: own labels kept, the classifier's prediction (with its probability) for the rest."""
    from services.benchmarks.registry import get
    from services.benchmarks.sample import DataError
    from services.skills.data import is_missing_image_folder, read_samples

    settings = _settings()
    labeller = _load_labeller(settings, embedder_spec)
    need_images = store or bool(getattr(labeller.embedder, "takes_images", False))
    try:
        samples, _ = read_samples(benchmark, data, split, need_images=need_images, settings=settings)
    except DataError as exc:
        if store and is_missing_image_folder(exc):
            raise UserError(f"{exc}. Storing labels registers the samples, and a sample's image bytes are part "
                              f"of its identity: pass --no-store (with --output) to label without them") from None
        raise
    split = split or get(benchmark).default_split
    if store:
        labels = _label_and_store(settings, benchmark, data, split, samples, labeller)
    else:
        labels = labeller.label(samples)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(asdict(item)) + "\n" for item in labels)
    summary = _summary(benchmark, split, samples, labels, labeller, store, facets)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
    else:
        _print_summary(summary)


def _summary(benchmark, split, samples, labels, labeller, stored, facets) -> dict:
    from services.skills.labeller import distribution

    facets = facets or sorted({k for s in samples for k in s.skills})
    return {"benchmark": benchmark, "split": split, "n": len(samples),
            "labeller": {"name": labeller.name, "version": labeller.version},
            "by_source": dict(sorted(Counter(x.labeller for x in labels).items())),
            "stored": stored, "overall": distribution(samples, labels)["all"],
            "by_facet": {facet: distribution(samples, labels, facet) for facet in facets}}


def _print_summary(summary: dict) -> None:
    overall, labeller = summary["overall"], summary["labeller"]
    click.echo(f"{summary['benchmark']} {summary['split']}: {summary['n']} samples labelled by {labeller['name']} "
               f"{labeller['version']}{' (stored)' if summary['stored'] else ''}: "
               f"{overall['understanding']} understanding, {overall['reasoning']} reasoning")
    for facet, table in summary["by_facet"].items():
        click.echo(f"  by {facet}:")
        for value, row in table.items():
            confidence = "" if row["mean_probability"] is None else f"  mean probability {row['mean_probability']:.2f}"
            click.echo(f"    {value:<24} n={row['n']:<5} reasoning {_percent(row['reasoning_share']):>6}{confidence}")


def _label_and_store(settings, benchmark, data, split, samples, labeller):
    from db.session import make_engine, make_sessionmaker, transaction, upgrade
    from services.benchmarks.registry import get
    from services.runs import BenchmarkSelection
    from services.skills.store import label_selection

    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            selection = BenchmarkSelection(get(benchmark), str(data), split, samples, {})
            return label_selection(session, selection, labeller)
    finally:
        engine.dispose()


@skills.command("report")
@click.option("--embedder", "embedder_spec", default="minilm", show_default=True, help=EMBEDDER_HELP)
@click.option("--benchmark", default=None, help="only labels of this benchmark")
@click.option("--json", "as_json", is_flag=True)
def report(embedder_spec, benchmark, as_json):
    """The trained labeller's cross-validation report, and the labels stored in the database."""
    from sqlalchemy import inspect

    from db.session import make_engine, make_sessionmaker, transaction
    from services.skills.store import label_counts

    settings = _settings()
    folder = labeller_folder(settings, _embedder(embedder_spec, True).name)
    saved = json.loads((folder / "labeller.json").read_text()) if (folder / "labeller.json").is_file() else None
    engine = make_engine(settings.resolved_database_url)
    try:
        counts = []
        if inspect(engine).has_table("sample_labels"):
            with transaction(make_sessionmaker(engine)) as session:
                counts = label_counts(session, benchmark)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({"labeller": saved and {"name": saved["name"], "version": saved["version"]},
                               "cross_validation": saved and saved["report"], "stored_labels": counts}, indent=1))
        return
    if saved is None:
        click.echo(f"no trained labeller for embedder {embedder_spec!r} in {folder}")
    else:
        click.echo(f"labeller {saved['name']} version {saved['version']} ({folder})")
        if saved["report"]:
            _print_report(saved["report"])
    click.echo("stored labels:" if counts else "stored labels: none")
    for row in counts:
        mean = "" if row["mean_probability"] is None else f"  mean probability {row['mean_probability']:.3f}"
        click.echo(f"  {row['benchmark']}/{row['split']}  {row['labeller']} {row['version']}  "
                   f"{row['label']:<13} {row['n']:>6}{mean}")
