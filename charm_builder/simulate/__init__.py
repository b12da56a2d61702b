"""The Scene-Character-User simulator and six-model candidates (the tool's main job).

Owns: dialogue plans, the two-model loop, turn cleaning, candidate generation and run reports.
Imports: ``charm_kernel``, ``schemas``, ``charm_builder.store`` and ``charm_builder.llm``. ``session`` is one run
as a library call (``simulate_workspace``); ``cli`` only parses options into it.
"""

from charm_builder.simulate.candidates import generate_candidates
from charm_builder.simulate.loop import LoopSettings, simulate_dialogue
from charm_builder.simulate.plan import DialogueSpec, parse_turns, plan_dialogues
from charm_builder.simulate.runner import RunOptions, RunReport, Simulation
from charm_builder.simulate.session import SimulateRequest, simulate_workspace

__all__ = [
    "DialogueSpec",
    "LoopSettings",
    "RunOptions",
    "RunReport",
    "SimulateRequest",
    "Simulation",
    "generate_candidates",
    "parse_turns",
    "plan_dialogues",
    "simulate_dialogue",
    "simulate_workspace",
]
