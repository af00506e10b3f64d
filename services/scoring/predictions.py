"""Scoring predictions made elsewhere: a JSONL file of {"id": ..., "response": ...} per line,
matched to a benchmark's samples by id (the ids ``medgrid benchmarks inspect`` reports)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from services.scoring.aggregate import ScoreCell, aggregate
from services.scoring.compat import get_scorer
from services.scoring.judge import SCORER_NAME, Judgement

RESPONSE_KEYS = ("response", "prediction", "output")  # first present wins


class PredictionsFileError(ValueError):
    """A malformed predictions file; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int, message: str):
        self.path, self.line = str(path), line
        super().__init__(f"{path}, line {line}: {message}")


def read_predictions_jsonl(path: str | Path) -> dict[str, Any]:
    """id -> response (a string or null), or {"response", "error"} for a line carrying an error."""
    predictions: dict[str, Any] = {}
    first_seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PredictionsFileError(path, number, f"not JSON ({exc.msg})") from None
            if not isinstance(record, dict) or record.get("id") in (None, ""):
                raise PredictionsFileError(path, number, 'expected an object with "id" and "response"')
            key = str(record["id"])
            if key in first_seen:
                raise PredictionsFileError(path, number, f"id {key!r} already given on line {first_seen[key]}")
            response_key = next((k for k in RESPONSE_KEYS if k in record), None)
            if response_key is None and "error" not in record:
                raise PredictionsFileError(path, number, f"no response: expected one of {', '.join(RESPONSE_KEYS)}")
            response = record.get(response_key) if response_key else None
            if response is not None and not isinstance(response, str):
                raise PredictionsFileError(path, number, f'"{response_key}" must be a string or null')
            first_seen[key] = number
            error = record.get("error")
            predictions[key] = {"response": response, "error": str(error)} if error else response
    return predictions


@dataclass
class ScoredPredictions:
    """Unpacks as ``judgements, cells``; also says which ids did not match."""

    judgements: list[tuple[dict, Judgement]]
    cells: list[ScoreCell]
    missing_ids: list[str] = field(default_factory=list)  # samples with no prediction (scored unparsed)
    unknown_ids: list[str] = field(default_factory=list)  # predictions for no known sample (ignored)

    def __iter__(self) -> Iterator:
        return iter((self.judgements, self.cells))


def score_predictions(samples: list[dict], predictions: Mapping[Any, Any], *, scorer: str = SCORER_NAME,
                      seed: int = 1234, resamples: int = 1000) -> ScoredPredictions:
    """Judge every sample against its prediction and aggregate.

    ``predictions`` maps a sample id to the raw reply (str or None), or to a mapping with
    "response" and "error" (a failed sample, judged wrong with method 'error'). A sample with no
    prediction counts as unparsed; predictions whose id matches no sample are listed, not scored.
    """
    judge = get_scorer(scorer)
    by_id = {str(key): value for key, value in predictions.items()}
    judgements, missing = [], []
    for sample in samples:
        key = str(sample["key"])
        if key not in by_id:
            missing.append(key)
        value = by_id.get(key)
        if isinstance(value, Mapping):
            judgement = judge(sample, value.get("response"), value.get("error"))
        else:
            judgement = judge(sample, value)
        judgements.append((sample, judgement))
    known = {str(sample["key"]) for sample in samples}
    unknown = sorted(key for key in by_id if key not in known)
    cells = aggregate(judgements, seed=seed, resamples=resamples)
    return ScoredPredictions(judgements, cells, missing, unknown)
