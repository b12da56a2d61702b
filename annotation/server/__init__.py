"""Embedded Argilla server: its own virtualenv, a SQL search engine, and a process supervisor.

Keep this package's ``__init__`` free of imports: ``launcher.py`` and ``search_engine.py`` run
inside the argilla-server virtualenv, which has none of charm-builder's dependencies.
"""
