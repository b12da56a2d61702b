"""charm-builder's data stages: store, llm, importers, library, simulate, judge, export, browse.

Each sub-package is one stage with a small public surface (its ``__init__``) and a thin ``cli`` module
of command functions; ``offline_models`` finds and converts the offline models. Stages import only
``charm_kernel``, ``schemas`` and the public API of stages below them; the ``charm-build`` app that
mounts their commands is ``charm_apps.build`` (see tests/test_layers.py).
"""
