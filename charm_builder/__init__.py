"""charm-builder's data side: the ``charm-build`` CLI and the stages that build Charm data.

Owns: store, llm, importers, library, simulate, judge, export, browse, demo, plus the shared ``errors``,
``console`` and ``offline_models`` helpers. Stages import ``schemas``, the store and each other's public
package API only; only ``cli`` and ``demo`` reach into ``annotation`` / ``training`` (their CLIs).
"""
