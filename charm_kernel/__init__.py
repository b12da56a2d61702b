"""The kernel: what every stage and app shares, and nothing else. It imports no stage and no app.

``errors`` (``CharmError``: a user error, printed as one line), ``console`` (the consoles, ``fail``, warnings),
``options`` (config fields as CLI options), ``paths`` (cache folder, 0600 writes), ``progress`` (progress bars
that log plain lines off a terminal), ``cli`` (``WorkspaceOpt``, ``run_app``) and ``help_text`` (``--help``
reflow). The three floors are described in docs/design.md and checked by tests/test_layers.py.
"""
