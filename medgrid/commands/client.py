"""`medgrid submit` and `medgrid follow`: start and watch runs on a grid through its REST API."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

import click

TERMINAL = ("done", "partial", "failed", "cancelled")


class ApiClient:
    def __init__(self, url: str, token: str | None):
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, body=None):
        from medgrid.errors import UserError

        request = urllib.request.Request(
            self.url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read())
                message = f"{detail.get('error')}: {detail.get('message')}"
            except ValueError:
                message = exc.reason
            raise UserError(f"{method} {path} answered {exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise UserError(f"cannot reach the medgrid API at {self.url}: {exc.reason}") from None


def _client(api, token) -> ApiClient:
    return ApiClient(api or os.environ.get("MEDGRID_API_URL", "http://127.0.0.1:8000"),
                     token or os.environ.get("MEDGRID_API_TOKEN"))


api_option = click.option("--api", default=None, help="API base URL (default: MEDGRID_API_URL or http://127.0.0.1:8000)")
token_option = click.option("--token", default=None, help="bearer token (default: MEDGRID_API_TOKEN)")


@click.command("submit")
@api_option
@token_option
@click.option("--model", "models", multiple=True, required=True, help="model id; repeat for several models")
@click.option("--benchmark", "benchmarks", multiple=True, required=True, metavar="NAME=DATA",
              help="benchmark and its data folder on the grid's machines, e.g. slake=/data/SLAKE")
@click.option("--limit", type=click.IntRange(min=1), default=None)
@click.option("--follow/--no-follow", default=True, show_default=True, help="show progress until the runs finish")
def submit(api, token, models, benchmarks, limit, follow):
    """Start runs on the grid (one per model) and follow them."""
    from medgrid.errors import UserError

    selections = []
    for item in benchmarks:
        name, sep, data = item.partition("=")
        if not sep or not name or not data:
            raise UserError(f"--benchmark expects NAME=DATA, got {item!r}")
        selections.append({"name": name, "data": data, **({"limit": limit} if limit else {})})
    client = _client(api, token)
    created = client.call("POST", "/api/v1/runs", {"models": list(models), "benchmarks": selections})
    for run in created["runs"]:
        click.echo(f"run {run['id']} ({run['model']}) queued")
    if follow:
        for run in created["runs"]:
            _follow(client, run["id"])


@click.command("follow")
@api_option
@token_option
@click.argument("run_id")
def follow(api, token, run_id):
    """Show a run's progress until it finishes, then its score table."""
    _follow(_client(api, token), run_id)


def _follow(client: ApiClient, run_id: str, interval: float = 2.0) -> None:
    from tqdm import tqdm

    from medgrid.cli import format_score_table
    from services.scoring import ScoreCell

    run = client.call("GET", f"/api/v1/runs/{run_id}")
    with tqdm(total=run["n_samples"], unit="sample", desc=f"{run['model_id']}", file=sys.stderr) as bar:
        while True:
            bar.update(run["progress"]["predictions"] - bar.n)
            bar.set_postfix_str(run["status"])
            if run["status"] in TERMINAL:
                break
            time.sleep(interval)
            run = client.call("GET", f"/api/v1/runs/{run_id}")
    scores = client.call("GET", f"/api/v1/runs/{run_id}/scores")["scores"]
    cells = [ScoreCell(s["benchmark"], s["split"], s["facet"], s["value"], s["metric"], s["score"], s["ci_low"],
                       s["ci_high"], s["n"], s["n_unparsed"]) for s in scores]
    click.echo(format_score_table(cells))
    click.echo(f"run {run_id}: {run['status']}")
    if run.get("failed_shard_errors"):
        click.echo(f"{len(run['failed_shard_errors'])} shard(s) failed; first error:\n"
                   f"{run['failed_shard_errors'][0][-800:]}", err=True)
