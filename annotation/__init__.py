"""The annotation stage: Argilla dataset settings, users, push/pull of candidate sets and annotations,
QA metrics, and the embedded Argilla server (``annotation.server``).
Imports: ``schemas``, ``charm_builder.store``, ``errors``, ``console`` and the public APIs of ``charm_builder.llm``
/ ``judge`` / ``export``; ``annotation.cli`` also ``charm_builder.cli.common``. ``training`` only lazily, for
``active``'s reward-model strategies (``training.rm.set_scores``), never at module level.
"""
