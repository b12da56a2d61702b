"""The training stage: reward models (``rm``), GRPO policies (``grpo``), evaluation (``evaluation``) and what
they share (``common``: statistics, reports, launch and distributed helpers). Each sub-package keeps its
commands in its own ``cli`` modules, thin layers over its library; the ``charm-train`` app that mounts them
is ``charm_apps.train``. Reads exported datasets, not the workspace (``rm.self_evolve`` excepted).
Imports: ``charm_kernel``, ``schemas`` and charm_builder's public APIs (``llm``, ``export.locate``/``card``,
importers' readers).
"""
