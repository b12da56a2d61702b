"""Evaluation of role-play policies: Charm-DialogueQuality with LLM judges, CharacterEval, run comparison.

Imports: ``training.rm`` / ``training.grpo`` public APIs, training's shared helpers, ``charm_builder.llm``,
``export.locate``, importers' readers, ``errors`` and ``console``.
"""
