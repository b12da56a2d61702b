"""Entry point run with the argilla-server virtualenv's python (never with charm-builder's).

Usage (the supervisor in ``embedded.py`` builds these command lines)::

    python launcher.py migrate                 # create/upgrade the schema (SQLite: switch it to WAL;
                                               # PostgreSQL: create the database first)
    python launcher.py ensure-owner            # create/refresh the owner from CHARM_OWNER_* env vars
    python launcher.py web --host H --port P [--workers N]   # uvicorn serving argilla_server:app
    python launcher.py worker                  # one rq worker on the default and high queues

Every command first loads ``search_engine.py`` (next to this file), which registers the
``charm-sqlite`` engine in argilla-server's plug-in registry, so the web process and the worker both
find it when ``ARGILLA_SEARCH_ENGINE=charm-sqlite``. Secrets arrive through the environment, never on
the command line, and are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


def register_search_engine() -> None:
    """Import ``search_engine.py`` by path; importing it registers the engine."""
    name = "charm_builder_sqlite_search_engine"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, _HERE / "search_engine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def pre_ping_postgres_connections() -> None:
    """On PostgreSQL, test pooled connections before use (SQLAlchemy's ``pool_pre_ping``): after the
    supervisor restarts a killed postgres, requests get fresh connections instead of failing on dead
    ones. ``import argilla_server`` already created the engines, so the flag is set on their pools."""
    from argilla_server.settings import settings

    if not settings.database_is_postgresql:
        return
    from argilla_server.database import async_engine, sync_engine

    for engine in (async_engine.sync_engine, sync_engine):
        engine.pool._pre_ping = True


def create_postgres_database() -> None:
    """Create the configured PostgreSQL database when it does not exist yet (a new cluster has none)."""
    from argilla_server.database import database_url_sync
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url_sync())
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}).scalar()
            if not exists:
                conn.exec_driver_sql(f"CREATE DATABASE \"{url.database}\" ENCODING 'UTF8'")
                print(f"created database {url.database!r}", flush=True)
    finally:
        engine.dispose()


def migrate() -> None:
    """Upgrade the database to the newest schema; on SQLite then enable WAL so readers never block the writer."""
    from alembic.config import main as alembic_main
    from argilla_server.settings import settings

    if settings.database_is_postgresql:
        create_postgres_database()
    from argilla_server.database import ALEMBIC_CONFIG_FILE, sync_engine

    alembic_main(argv=["-c", ALEMBIC_CONFIG_FILE, "-q", "upgrade", "head"])
    if settings.database_is_sqlite:
        with sync_engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            conn.exec_driver_sql(QUEUE_INDEX_SQL)
            conn.commit()


#: A covering index for the annotation queue on SQLite. A record row holds its fields (about 10 kB for a
#: Charm candidate set) before ``dataset_id``, ``inserted_at``, ``metadata`` and ``status``, so reading any
#: of those walks the row's overflow pages, and the queue query (search_engine.py) reads them for the pending
#: records of the dataset: with this index it reads no row, and a member's own stripe (an id range) is a
#: range scan. Created after the migrations on every start (idempotent).
QUEUE_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS ix_charm_records_queue ON records (dataset_id, status, id, inserted_at, metadata)"
)


async def _ensure_owner(username: str, password: str, api_key: str) -> str:
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import User, UserRole

    async with AsyncSessionLocal() as db:
        user = await accounts.get_user_by_username(db, username)
        if user is None:
            await User.create(
                db,
                first_name=username,
                username=username,
                role=UserRole.owner,
                password_hash=accounts.hash_password(password),
                api_key=api_key,
            )
            return "created"
        changes: dict = {}
        if not accounts.verify_password(password, user.password_hash):
            changes["password_hash"] = accounts.hash_password(password)
        if user.api_key != api_key:
            changes["api_key"] = api_key
        if user.role != UserRole.owner:
            changes["role"] = UserRole.owner
        if changes:
            await user.update(db, **changes)
            return "updated"
        return "unchanged"


def ensure_owner() -> None:
    """Create the owner account, or bring its password/API key in line with the environment."""
    try:
        username = os.environ["CHARM_OWNER_USERNAME"]
        password = os.environ["CHARM_OWNER_PASSWORD"]
        api_key = os.environ["CHARM_OWNER_API_KEY"]
    except KeyError as missing:
        sys.exit(f"ensure-owner: environment variable {missing.args[0]} is not set")
    outcome = asyncio.run(_ensure_owner(username, password, api_key))
    print(f"owner account {username!r}: {outcome}", flush=True)


def cache_settings_adapters() -> None:
    """argilla-server 2.8 builds a pydantic ``TypeAdapter`` for the question (and metadata property) settings
    union on every access of ``parsed_settings``, i.e. for each question of each submitted response;
    building one takes tens of milliseconds, the largest single cost of a submit in a py-spy profile
    (benchmarks/bench_annotation.py). Build each adapter once; validation itself is unchanged."""
    from argilla_server.models import database
    from pydantic import TypeAdapter

    question = TypeAdapter(database.QuestionSettings)
    metadata = TypeAdapter(database.MetadataPropertySettings)
    database.Question.parsed_settings = property(lambda self: question.validate_python(self.settings))
    database.MetadataProperty.parsed_settings = property(lambda self: metadata.validate_python(self.settings))


def read_only_metadata_filter() -> None:
    """argilla-server 2.8's ``/me/datasets/{id}/records/search`` hides metadata an annotator may not see by
    assigning the filtered dict to ``record.metadata_`` on the ORM object: the next lazy load autoflushes
    an ``UPDATE records SET metadata=...`` (rolled back when the request ends). Each queue page thus
    write-locks its records: SQLite serialises every search behind the writer, and on PostgreSQL
    annotators paging the same records in different (per-user) orders deadlock (500s in
    benchmarks/bench_annotation.py). Set the filtered value as the loaded one instead, so the handler's
    assignment changes nothing and no UPDATE is issued; what the annotator sees is unchanged."""
    from argilla_server.api.handlers.v1.datasets import records
    from sqlalchemy.orm.attributes import set_committed_value

    original = records._filter_record_metadata_for_user

    async def filter_without_update(record: Any, user: Any) -> Any:
        metadata = await original(record, user)
        set_committed_value(record, "metadata_", metadata)
        return metadata

    records._filter_record_metadata_for_user = filter_without_update


def sqlite_synchronous_normal() -> None:
    """In WAL mode, ``synchronous=NORMAL`` syncs the log at checkpoints instead of at every commit:
    a commit stays atomic and survives a crash of the server (not a power cut of the machine), and
    the write lock that every submit takes is held for less time."""
    from argilla_server.settings import settings

    if not settings.database_is_sqlite:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()


#: Hidden integer metadata naming a record's own annotator count (``annotation.datasets.RECORD_MIN_SUBMITTED``).
RECORD_MIN_SUBMITTED = "min_submitted"


def per_record_min_submitted() -> None:
    """argilla-server 2.8's task distribution has one ``min_submitted`` per dataset. A campaign where most
    records need one annotator and a share of them several (for agreement; ``annotate push --overlap``)
    marks those records with the integer metadata ``min_submitted``; a record is then completed (and
    leaves everyone's pending queue) when it has that many submitted responses. Records without the
    metadata follow the dataset's setting, as before."""
    from argilla_server.contexts import distribution
    from argilla_server.enums import RecordStatus

    async def overlap_with_record_minimum(db: Any, record: Any) -> Any:
        needed = record.dataset.distribution["min_submitted"]
        own = (record.metadata_ or {}).get(RECORD_MIN_SUBMITTED)
        if isinstance(own, int) and not isinstance(own, bool) and own >= 1:
            needed = own
        record.status = RecordStatus.completed if len(record.responses_submitted) >= needed else RecordStatus.pending
        return await record.save(db, autocommit=False)

    distribution._update_record_status_with_overlap_strategy = overlap_with_record_minimum


def skip_unwatched_events() -> None:
    """argilla-server 2.8 builds a webhook event for every record created or updated and every response
    (a dataset query with five eager loads plus a full serialisation of the record and its dataset), and
    only then looks for enabled webhooks to send it to. With no webhook enabled, which is the usual case,
    that work is thrown away: per submit, three events (response created, record updated, record
    completed); per pushed record, one. Ask for the enabled webhooks first and build nothing when there
    are none; with a webhook enabled, events are built and sent exactly as before."""
    from argilla_server.bulk import records_bulk
    from argilla_server.contexts import datasets, distribution, records, webhooks

    def guarded(notify: Any) -> Any:
        async def notify_if_watched(db: Any, *args: Any, **kwargs: Any) -> list:
            if not await webhooks.list_enabled_webhooks(db):
                return []
            return await notify(db, *args, **kwargs)

        return notify_if_watched

    for module in (datasets, records, distribution, records_bulk):
        for name in ("notify_record_event_v1", "notify_response_event_v1", "notify_dataset_event_v1"):
            if hasattr(module, name):
                setattr(module, name, guarded(getattr(module, name)))


def log_retries() -> None:
    """argilla-server retries some database work with ``backoff`` (record status after each submit, in a
    SERIALIZABLE transaction: up to 15 s of exponential, jittered sleeps on a lock or serialisation
    error); log each retry in the web log, where a slow submit can then be explained (on PostgreSQL,
    20 annotators submitting back to back caused 36 retries of 1,800 submits)."""
    import logging

    logging.getLogger("backoff").setLevel(logging.INFO)  # argilla-server's root handler writes it


#: Environment variable: log every SQL statement slower than this many milliseconds to the web log.
SLOW_SQL_ENV = "CHARM_ARGILLA_SLOW_SQL_MS"


def log_slow_sql() -> None:
    """With ``$CHARM_ARGILLA_SLOW_SQL_MS`` set, log each SQL statement that took longer (a diagnostic for
    benchmarks/bench_annotation_scale.py; statements only, never their parameters)."""
    threshold = os.environ.get(SLOW_SQL_ENV)
    if not threshold:
        return
    import logging
    import time

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    limit, log = float(threshold) / 1000, logging.getLogger("charm.sql")
    log.setLevel(logging.INFO)

    @event.listens_for(Engine, "before_cursor_execute")
    def _start(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("charm_started", []).append(time.perf_counter())

    @event.listens_for(Engine, "after_cursor_execute")
    def _stop(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        seconds = time.perf_counter() - conn.info["charm_started"].pop()
        if seconds >= limit:
            log.info("slow SQL %.0f ms: %s", seconds * 1000, " ".join(statement.split())[:300])


def web_app() -> Any:
    """argilla-server's ASGI app with this file's patches applied (a uvicorn app factory: each web
    worker process calls it)."""
    log_retries()
    log_slow_sql()
    per_record_min_submitted()
    skip_unwatched_events()
    pre_ping_postgres_connections()
    sqlite_synchronous_normal()
    register_search_engine()
    cache_settings_adapters()
    read_only_metadata_filter()
    from argilla_server import app

    return app


def web(host: str, port: int, workers: int = 1) -> None:
    """Serve the API and the web UI; ``workers`` > 1 runs that many uvicorn worker processes on one
    socket. One process serves requests on one core (the Python work of a submit is CPU-bound), so
    a team submitting back to back needs several (benchmarks/bench_annotation.py)."""
    import uvicorn

    if workers > 1:  # uvicorn imports the factory by name in each worker process (this file's folder is on sys.path)
        uvicorn.run(
            f"{Path(__file__).stem}:web_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=True,
            log_level="info",
        )
    else:
        uvicorn.run(web_app(), host=host, port=port, access_log=True, log_level="info")


def worker() -> None:
    """Run one rq worker for argilla-server's background jobs (record status, webhooks, imports)."""
    from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
    from rq import Worker

    Worker([HIGH_QUEUE, DEFAULT_QUEUE], connection=REDIS_CONNECTION).work(with_scheduler=False)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(prog="launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate")
    sub.add_parser("ensure-owner")
    web_parser = sub.add_parser("web")
    web_parser.add_argument("--host", default="127.0.0.1")
    web_parser.add_argument("--port", type=int, default=6900)
    web_parser.add_argument("--workers", type=int, default=1)
    sub.add_parser("worker")
    args = parser.parse_args(argv)

    if args.command == "web":
        web(args.host, args.port, args.workers)
        return
    pre_ping_postgres_connections()
    register_search_engine()
    if args.command == "worker":
        cache_settings_adapters()
        per_record_min_submitted()
        skip_unwatched_events()
    if args.command == "migrate":
        migrate()
    elif args.command == "ensure-owner":
        ensure_owner()
    else:
        worker()


if __name__ == "__main__":
    main()
