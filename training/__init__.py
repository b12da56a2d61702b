"""``charm-train``: reward models (``rm``), GRPO policies (``grpo``), evaluation, and the shared losses,
margin sources, presets and launch/distributed helpers; ``training.cli`` is a thin layer over them.
Reads exported datasets, not the workspace (``self_evolve`` excepted). Imports: ``schemas`` and
charm_builder's public APIs (``llm``, ``export.locate``/``card``, importers' readers, ``errors``, ``console``).
"""
