"""The LLM-judge stage (the paper's GPT-Margin baseline): score every candidate of a set 1-10 on the
set's target dimension, store the scores, and turn them into best/worst picks.

    tasks = await run_judge(ws, LLMClient("paper", db=ws.db_path), "gpt-4o")   # JudgeScore rows
    judge_picks(ws, "gpt-4o")              # set id -> JudgePick(best, worst, scores)
    synthetic_annotations(ws, "gpt-4o")    # Annotation(annotator="judge:gpt-4o", source="synthetic")

The export turns the scores into ``margin_judge = score(chosen) - score(rejected)`` (in [-9, 9]).
"""

from charm_builder.judge.picks import (
    SYNTHETIC_PREFIX,
    JudgePick,
    SyntheticReport,
    judge_picks,
    judges_in,
    pick,
    synthetic_annotations,
)
from charm_builder.judge.prompts import PROMPT_VERSION, judge_messages, parse_score
from charm_builder.judge.runner import JudgeReport, run_judge

__all__ = [
    "PROMPT_VERSION",
    "SYNTHETIC_PREFIX",
    "JudgePick",
    "JudgeReport",
    "SyntheticReport",
    "judge_messages",
    "judge_picks",
    "judges_in",
    "parse_score",
    "pick",
    "run_judge",
    "synthetic_annotations",
]
