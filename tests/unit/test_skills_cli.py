"""``medgrid skills train | label | report`` end to end on the real files, with a SQLite database."""

import json

import pytest
from click.testing import CliRunner

from medgrid.commands.skills import skills
from tests.unit.benchmark_files import open_data_roots  # noqa: F401
from tests.unit.skills_helpers import slake_with_images

pytestmark = pytest.mark.usefixtures("open_data_roots")


@pytest.fixture
def env(tmp_path, sqlite_url):
    return {"MEDGRID_HOME": str(tmp_path / "home"), "MEDGRID_DATABASE_URL": sqlite_url, "MEDGRID_DATA_ROOTS": None}


def invoke(env, *args):
    return CliRunner().invoke(skills, list(args), env=env, catch_exceptions=False)


def test_train_label_report(env, shared_data, tmp_path):
    trained = invoke(env, "train", "--data", str(shared_data / "medxpertqa"), "--embedder", "tfidf",
                     "--sample", "400", "--folds", "3", "--json")
    assert trained.exit_code == 0, trained.output
    report = json.loads(trained.output)
    assert report["n"] == 400 and report["labeller"]["name"] == "lr-tfidf"
    version = report["labeller"]["version"]

    # Without images nothing can be registered, so storing is refused with a way out...
    refused = CliRunner().invoke(skills, ["label", "--benchmark", "slake", "--data", str(shared_data / "slake"),
                                          "--embedder", "tfidf"], env=env)
    assert refused.exit_code == 2 and "--no-store" in refused.output
    # ...which labels the real file and writes the labels out.
    out = tmp_path / "labels.jsonl"
    unstored = invoke(env, "label", "--benchmark", "slake", "--data", str(shared_data / "slake"), "--embedder",
                      "tfidf", "--no-store", "--output", str(out), "--facet", "content_type", "--json")
    assert unstored.exit_code == 0, unstored.output
    summary = json.loads(unstored.output)
    assert summary["n"] == 1061 and summary["labeller"] == {"name": "lr-tfidf", "version": version}
    assert sum(row["n"] for row in summary["by_facet"]["content_type"].values()) == 1061
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 1061 and {x["version"] for x in lines} == {version}

    # With (stand-in) images the samples are registered and the labels stored.
    data = slake_with_images(shared_data, tmp_path)
    stored = invoke(env, "label", "--benchmark", "slake", "--data", str(data), "--embedder", "tfidf", "--json")
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.output)["by_facet"]["content_type"] == summary["by_facet"]["content_type"]

    shown = invoke(env, "report", "--embedder", "tfidf", "--json")
    shown = json.loads(shown.output)
    assert shown["labeller"]["version"] == version and shown["cross_validation"]["n"] == 400
    rows = shown["stored_labels"]
    assert sum(r["n"] for r in rows) == 1061 and {(r["benchmark"], r["labeller"]) for r in rows} == {("slake", "lr-tfidf")}
    text = invoke(env, "report", "--embedder", "tfidf")
    assert "balanced accuracy" in text.output and "majority baseline" in text.output


def test_label_without_a_trained_labeller_says_how_to_train(env, shared_data):
    result = CliRunner().invoke(skills, ["label", "--benchmark", "slake", "--data", str(shared_data / "slake"),
                                         "--embedder", "tfidf", "--no-store"], env=env)
    assert result.exit_code == 2 and "medgrid skills train" in result.output


def test_unknown_embedder_is_a_usage_error(env, shared_data):
    result = CliRunner().invoke(skills, ["train", "--data", str(shared_data / "medxpertqa"), "--embedder", "bert"],
                                env=env)
    assert result.exit_code == 2 and "unknown embedder" in result.output
