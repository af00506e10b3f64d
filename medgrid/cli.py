"""The ``medgrid`` command line. Bad input exits with status 2 and one clear line, never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from medgrid.errors import Group, UserError, load_settings

__all__ = ["Group", "UserError", "load_settings", "main", "format_score_table"]

@click.group(cls=Group)
@click.version_option(package_name="medgrid")
def main():
    """medgrid: evaluate medical vision-language models, from a laptop to a GPU cluster."""


# -- db ----------------------------------------------------------------------------------------

@main.group(cls=Group)
def db():
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply Alembic migrations to MEDGRID_DATABASE_URL (default: the SQLite file in MEDGRID_HOME)."""
    from db.session import current_revision, upgrade

    settings = load_settings()
    upgrade(settings.resolved_database_url, revision)
    click.echo(f"database at revision {current_revision(settings.resolved_database_url)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision):
    """Revert migrations down to REVISION ('base' for an empty database)."""
    from db.session import current_revision, downgrade

    settings = load_settings()
    downgrade(settings.resolved_database_url, revision)
    click.echo(f"database at revision {current_revision(settings.resolved_database_url)}")


# -- checkpoints -------------------------------------------------------------------------------

@main.group(cls=Group)
def checkpoints():
    """Model checkpoints."""


@checkpoints.command("make-tiny")
@click.option("--family", required=True, help="architecture family (qwen2_5_vl, qwen2_vl, llava, idefics3, gemma3, internvl)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder to write the checkpoint to")
@click.option("--seed", default=0, show_default=True)
def make_tiny_command(family, out, seed):
    """Build a tiny randomly initialised checkpoint of a real architecture, offline."""
    from services.models.tiny import FAMILIES, make_tiny

    if family not in FAMILIES:
        raise UserError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    path = make_tiny(family, out, seed=seed)
    click.echo(f"tiny {family} checkpoint written to {path}")


# -- benchmarks and models ---------------------------------------------------------------------

@main.group(cls=Group)
def benchmarks():
    """Benchmarks medgrid can read."""


@benchmarks.command("list")
@click.option("--json", "as_json", is_flag=True)
def benchmarks_list(as_json):
    """List registered benchmarks with their splits and formats."""
    from services.benchmarks import registry

    if as_json:
        click.echo(json.dumps(registry.describe(), indent=1))
        return
    for name in registry.names():
        spec = registry.get(name)
        click.echo(f"{name:15s} splits: {','.join(spec.splits):25s} {spec.title}")


@benchmarks.command("inspect")
@click.argument("name")
@click.option("--data", required=True, help="folder holding the benchmark's files")
@click.option("--split", default=None)
@click.option("--option", "adapter_options", multiple=True, metavar="KEY=VALUE")
@click.option("--decode-images", is_flag=True, help="decode every image, not only check it exists")
@click.option("--json", "as_json", is_flag=True)
def benchmarks_inspect(name, data, split, adapter_options, decode_images, as_json):
    """Say exactly what a benchmark folder holds: counts by answer kind and skill, and every problem found."""
    from services.benchmarks.inspect import inspect_benchmark

    report = inspect_benchmark(name, data, split, decode_images=decode_images, settings=load_settings(),
                               **_parse_options(adapter_options))
    if as_json:
        click.echo(json.dumps(report, indent=1, default=str))
        return
    click.echo(f"{report['benchmark']} ({report['split']}): {report['n']} samples; by answer type "
               f"{report['by_answer_type']}; closed kinds {report['closed_kind']}")
    for facet, labels in report["skills"].items():
        top = sorted(labels.items(), key=lambda kv: -kv[1])[:12]
        click.echo(f"  {facet}: " + ", ".join(f"{label} {count}" for label, count in top))
    click.echo(f"{report['error_count']} problem(s)")
    for error in report["errors"][:20]:
        click.echo(f"  {error['file']} record {error['record']} field {error['field']}: {error['message']}")


@main.group(cls=Group)
def models():
    """Model specs."""


@models.command("list")
def models_list():
    """List the model specs in MEDGRID_MODELS_DIR."""
    from services.models.spec import roster

    settings = load_settings()
    for spec in roster(settings.models_dir).values():
        click.echo(f"{spec.id:24s} {spec.kind:6s} {spec.family or '-':12s} gpus={spec.gpus} {spec.hub_id or spec.path}")


# -- eval and demo -----------------------------------------------------------------------------

@main.command("eval")
@click.option("--model", "model_name", required=True, help="model id from the models folder, a spec YAML, or a checkpoint folder")
@click.option("--benchmark", "benchmark_names", multiple=True, required=True, metavar="NAME[=DATA]",
              help="benchmark name (see `medgrid benchmarks list`), with --data; or NAME=DATA, repeatable, "
                   "to evaluate several benchmarks in one run")
@click.option("--data", default=None, help="folder holding the benchmark's files (for a bare NAME)")
@click.option("--split", default=None, help="split (default: each benchmark's test split)")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="first N samples of each benchmark")
@click.option("--sample", type=click.IntRange(min=1), default=None, help="N samples drawn with MEDGRID_SEED")
@click.option("--option", "adapter_options", multiple=True, metavar="KEY=VALUE", help="benchmark option, e.g. language=zh")
@click.option("--prompt-style", type=click.Choice(["reasoning", "direct"]), default=None)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True, help="print the score cells as JSON")
def eval_command(model_name, benchmark_names, data, split, limit, sample, adapter_options, prompt_style,
                 max_new_tokens, batch_size, as_json):
    """Evaluate a model on benchmarks in this process (SQLite by default, no Redis)."""
    settings = load_settings()
    _run_eval(settings, model_name, _benchmark_pairs(benchmark_names, data), split=split, limit=limit,
              sample=sample, options=_parse_options(adapter_options), prompt_style=prompt_style,
              max_new_tokens=max_new_tokens, batch_size=batch_size, as_json=as_json)


def _benchmark_pairs(names, data) -> list[tuple[str, str]]:
    pairs = []
    for item in names:
        name, sep, path = item.partition("=")
        if not sep:
            if data is None:
                raise UserError(f"--benchmark {name} needs --data, or give it as {name}=DATA")
            path = data
        pairs.append((name, path))
    return pairs


def _parse_options(pairs) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--option expects KEY=VALUE, got {pair!r}")
        options[key] = value
    return options


def _run_eval(settings, model_name, benchmarks: list[tuple[str, str]], *, split=None, limit=None, sample=None,
              options=None, prompt_style=None, max_new_tokens=None, batch_size=None, as_json=False):
    from services.benchmarks import registry
    from services.embedded import EvalRequest, evaluate
    from services.models.spec import resolve_spec

    for name, data in benchmarks:  # fail fast, before a model is loaded
        registry.get(name)
        if not Path(data).exists():
            raise UserError(f"data folder {data} does not exist")
    spec = resolve_spec(model_name, settings.models_dir, prompt_style=prompt_style or settings.prompt_style,
                        max_new_tokens=max_new_tokens, batch_size=batch_size or settings.batch_size)
    request = EvalRequest(spec, benchmarks, split=split, limit=limit, sample=sample, options=options)
    result = evaluate(request, settings, progress=_progress_bar(settings))
    if as_json:
        click.echo(json.dumps({"run_id": result.run_id, "cells": [c.__dict__ for c in result.cells]}, indent=1))
    else:
        click.echo(format_score_table(result.cells))
        click.echo(f"run {result.run_id}: {result.n_samples} samples, stored in {result.database_url}")
    return result


def _progress_bar(settings):
    if not settings.progress:
        return None

    def start(total):
        from tqdm import tqdm

        bar = tqdm(total=total, unit="sample", desc="evaluating", file=sys.stderr, dynamic_ncols=True)
        return bar.update

    return start


ANSWER_KIND_ORDER = {("all", "all"): 0, ("answer_type", "closed"): 1, ("closed_kind", "yes_no"): 2,
                     ("closed_kind", "choice"): 3, ("answer_type", "open"): 4, ("answer_type", "mcq"): 5}
ANSWER_KIND_LABEL = {("all", "all"): "all", ("answer_type", "closed"): "closed", ("closed_kind", "yes_no"): "  closed yes/no",
                     ("closed_kind", "choice"): "  closed choice", ("answer_type", "open"): "open",
                     ("answer_type", "mcq"): "multiple choice"}


def format_score_table(cells) -> str:
    """benchmark | answer kind | n | accuracy [95% CI] | unparsed, one row per answer kind."""
    rows = [c for c in cells if c.metric == "accuracy" and (c.facet, c.value) in ANSWER_KIND_ORDER]
    rows.sort(key=lambda c: (c.benchmark, c.split, ANSWER_KIND_ORDER[(c.facet, c.value)]))
    header = f"{'benchmark':14s} {'split':10s} {'answer kind':18s} {'n':>6s} {'accuracy':>9s}  {'95% CI':15s} {'unparsed':>8s}"
    lines = [header, "-" * len(header)]
    for c in rows:
        ci = f"[{c.ci_low:.3f}, {c.ci_high:.3f}]" if c.ci_low is not None else ""
        lines.append(f"{c.benchmark:14s} {c.split:10s} {ANSWER_KIND_LABEL[(c.facet, c.value)]:18s} {c.n:6d} "
                     f"{c.value_mean:9.4f}  {ci:15s} {c.n_unparsed:8d}")
    return "\n".join(lines)


@main.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="where to build the tiny checkpoint and the demo benchmark (default: MEDGRID_HOME/demo)")
@click.option("--family", type=click.Choice(["qwen2_5_vl", "llava"]), default="qwen2_5_vl", show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=24, show_default=True)
def demo_command(workdir, family, max_new_tokens):
    """Build a tiny real-architecture checkpoint and the demo benchmark, then evaluate end to end."""
    from services.benchmarks.demo import build_demo
    from services.models.tiny import make_tiny

    settings = load_settings()
    workdir = Path(workdir) if workdir else settings.home / "demo"
    checkpoint = workdir / f"tiny-{family}"
    if not (checkpoint / "config.json").is_file():
        make_tiny(family, checkpoint)
    click.echo(f"tiny {family} checkpoint: {checkpoint}")
    data = build_demo(workdir / "data")
    click.echo(f"demo benchmark: {data}")
    _run_eval(settings, str(checkpoint), [("demo", str(data))], max_new_tokens=max_new_tokens)
    # A randomly initialised checkpoint rarely says anything readable. A baseline beside it, through
    # the same path, shows the scorer at work: "always yes" must get exactly half the balanced
    # yes/no questions right and every other kind wrong.
    baseline = workdir / "always_yes.yaml"
    baseline.write_text("id: always_yes\nkind: always_yes\n")
    click.echo("\nthe same questions answered by the always-yes baseline (yes/no questions are balanced):")
    _run_eval(settings, str(baseline), [("demo", str(data))])


def _add_command_groups() -> None:
    from medgrid.commands.client import follow, submit
    from medgrid.commands.scores import report, score
    from medgrid.commands.serve import serve
    from medgrid.commands.skills import skills
    from medgrid.commands.tokens import tokens

    for command in (serve, tokens, score, report, skills, submit, follow):
        main.add_command(command)


_add_command_groups()

if __name__ == "__main__":  # pragma: no cover
    main()
