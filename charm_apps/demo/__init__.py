"""`charm-build demo`: the whole pipeline on the offline models, end to end, in a few minutes.

simulate -> LLM-judge annotations (synthetic, standing in for annotators) -> export -> reward model
-> roleReward evaluation, then a summary naming every artefact. See ``steps`` for the library calls.
Imports: every stage's public API and ``charm_apps.train`` (the demo is the one place that chains them).
"""

from charm_apps.demo.steps import DemoConfig, StepResult, run_demo

__all__ = ["DemoConfig", "StepResult", "run_demo"]
