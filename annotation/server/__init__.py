"""Embedded Argilla server: its own virtualenv (``server_env``), a SQL search engine, PostgreSQL and a
process supervisor (``embedded``); those import only the standard library, httpx and each other.

Keep this package's ``__init__`` free of imports: ``launcher.py`` and ``search_engine.py`` run
inside the argilla-server virtualenv, which has none of charm-builder's dependencies.
"""
