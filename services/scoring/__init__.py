"""medgrid's scoring core: answer extraction, metrics, aggregation with clustered confidence
intervals, study summaries and reports. Pure Python + numpy; no database access.

    judgement = judge(sample_record, reply)              # one prediction
    cells = aggregate([(sample_record, judgement), ...])  # score cells with 95% cluster-bootstrap CIs
"""

from services.scoring.aggregate import Aggregator, ScoreCell, aggregate, benchmark_label
from services.scoring.compat import COMPAT_RULES, SCORERS, get_scorer, judge_compat
from services.scoring.judge import SCORER_NAME, SCORER_VERSION, Judgement, answer_kind, judge, stored_judgement
from services.scoring.metrics import METRICS, OPEN_METRICS
from services.scoring.predictions import (
    PredictionsFileError,
    ScoredPredictions,
    read_predictions_jsonl,
    score_predictions,
)
from services.scoring.summary import STUDY_BENCHMARKS, ConsistencyFlag, consistency_flags, study_mean

__all__ = [
    "SCORER_NAME",
    "SCORER_VERSION",
    "COMPAT_RULES",
    "METRICS",
    "OPEN_METRICS",
    "SCORERS",
    "STUDY_BENCHMARKS",
    "Aggregator",
    "ConsistencyFlag",
    "Judgement",
    "PredictionsFileError",
    "ScoreCell",
    "ScoredPredictions",
    "aggregate",
    "answer_kind",
    "benchmark_label",
    "consistency_flags",
    "get_scorer",
    "judge",
    "judge_compat",
    "read_predictions_jsonl",
    "score_predictions",
    "stored_judgement",
    "study_mean",
]
