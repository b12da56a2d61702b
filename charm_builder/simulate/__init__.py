"""The Scene-Character-User simulator and six-model candidates (the tool's main job).

Owns: dialogue plans, the two-model loop, turn cleaning, candidate generation and run reports.
Imports: ``schemas``, ``charm_builder.store``, ``charm_builder.llm``, ``errors``; ``simulate.cli`` also ``cli.common``.
"""

from charm_builder.simulate.candidates import generate_candidates
from charm_builder.simulate.loop import LoopSettings, simulate_dialogue
from charm_builder.simulate.plan import DialogueSpec, parse_turns, plan_dialogues
from charm_builder.simulate.runner import RunOptions, RunReport, Simulation

__all__ = [
    "DialogueSpec",
    "LoopSettings",
    "RunOptions",
    "RunReport",
    "Simulation",
    "generate_candidates",
    "parse_turns",
    "plan_dialogues",
    "simulate_dialogue",
]
