"""The LLM-judge stage (the paper's GPT-Margin baseline): score every candidate of a set 1-10 on the
set's target dimension (``--rubric general``: helpfulness/correctness), store the scores
(``JudgeScore``) and turn them into best/worst picks (``run_judge``, ``judge_picks``,
``synthetic_annotations``); the export makes them ``margin_judge``. ``file_runner`` / ``pairs_file``
score a preference file instead and write a copy with ``margin_judge``.
Imports: ``schemas``, ``charm_builder.store``, ``charm_builder.llm``, ``errors``, ``importers.common`` (JSON
readers); ``judge.cli`` also ``charm_kernel.cli``.
"""

from charm_builder.judge.picks import (
    EXCLUDED_FLAGS,
    SYNTHETIC_PREFIX,
    JudgePick,
    SyntheticReport,
    judge_picks,
    judges_in,
    pick,
    synthetic_annotations,
)
from charm_builder.judge.prompts import PROMPT_VERSION, RUBRICS, judge_messages, parse_score, prompt_version
from charm_builder.judge.runner import JudgeReport, run_judge

__all__ = [
    "EXCLUDED_FLAGS",
    "PROMPT_VERSION",
    "RUBRICS",
    "SYNTHETIC_PREFIX",
    "JudgePick",
    "JudgeReport",
    "SyntheticReport",
    "judge_messages",
    "judge_picks",
    "judges_in",
    "parse_score",
    "pick",
    "prompt_version",
    "run_judge",
    "synthetic_annotations",
]
