"""``charm-train``: reward models (``rm``: also its losses, margin sources and presets), GRPO policies
(``grpo``), evaluation, and what they share (``common``: launch/distributed helpers, precision, stats,
reporting, generation); ``training.cli`` only assembles the commands each sub-package declares.
Reads exported datasets, not the workspace (``self_evolve`` excepted). Imports: ``schemas`` and
charm_builder's public APIs (``llm``, ``export.locate``/``card``, importers' readers, ``errors``, ``console``).
"""
