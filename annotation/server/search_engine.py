"""An argilla-server search engine that answers from SQL over Argilla's own database (SQLite or PostgreSQL).

Runs **inside the argilla-server virtualenv** (imports only argilla_server, SQLAlchemy 2, aiosqlite,
asyncpg); ``launcher.py`` imports it, which registers the engine under :data:`ENGINE_NAME`, used when
``ARGILLA_SEARCH_ENGINE=charm-sqlite``. Index hooks are no-ops; ``search`` (queue order, stripes,
leases, priority), progress, metrics and similarity are answered from the tables, with the same
answers on both databases. See docs/design.md#sql-search-engine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from argilla_server.enums import MetadataPropertyType, ResponseStatusFilter, SimilarityOrder, SortOrder
from argilla_server.models import (
    Dataset,
    MetadataProperty,
    Record,
    Response,
    Suggestion,
    User,
    VectorSettings,
)
from argilla_server.search_engine.base import (
    AndFilter,
    Filter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    MetadataMetrics,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    SuggestionFilterScope,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)
from argilla_server.settings import settings
from sqlalchemy import bindparam, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import Uuid

ENGINE_NAME = "charm-sqlite"
#: Integer record metadata: the annotators this record needs (``annotation.datasets.RECORD_MIN_SUBMITTED``).
RECORD_MIN_SUBMITTED = "min_submitted"
#: Integer record metadata: rank from ``annotate next --push`` (``annotation.datasets.PRIORITY``); 1 = first.
PRIORITY = "priority"

_RECORD_COLUMNS = {"id", "external_id", "status", "inserted_at", "updated_at"}
_SUGGESTION_COLUMNS = {"agent", "type"}
_TOKEN_RE = re.compile(r'"([^"]+)"|(\S+)')

_engine: AsyncEngine | None = None
_MAX_NEEDED: dict[str, tuple[int, float]] = {}  # dataset id -> (largest record min_submitted, valid until)
#: Redis sorted set of records on an annotator's open queue page: member "record-id user-id", score = when served.
LEASE_KEY = "charm:queue:leases"
#: How long a served record counts as open when its annotator neither submits nor fetches it again.
LEASE_SECONDS = 600.0


def _redis() -> Any:
    """argilla-server's Redis connection (its job queue's), or None when there is none."""
    try:
        from argilla_server.jobs.queues import REDIS_CONNECTION

        return REDIS_CONNECTION
    except Exception:  # no Redis configured: queues work without leases
        return None


def leased_by_others(user_id: str) -> dict[str, int]:
    """Records open on other annotators' queue pages (served less than LEASE_SECONDS ago, not answered
    since) -> how many others have it open; {} when Redis cannot be asked."""
    redis, now = _redis(), time.time()
    if redis is None:
        return {}
    try:
        redis.zremrangebyscore(LEASE_KEY, "-inf", now - LEASE_SECONDS)
        members = redis.zrangebyscore(LEASE_KEY, now - LEASE_SECONDS, "+inf")
    except Exception:
        return {}
    out: dict[str, int] = {}
    for member in members:
        record_id, _, holder = (member.decode() if isinstance(member, bytes) else str(member)).partition(" ")
        if holder != user_id:
            out[record_id] = out.get(record_id, 0) + 1
    return out


def lease(user_id: str, record_ids: Iterable[Any]) -> dict[str, int]:
    """Mark records as open on ``user_id``'s queue page; returns, for those records that other annotators
    had opened before (two pages served at the same moment), how many did."""
    redis, now = _redis(), time.time()
    ids = [str(record_id) for record_id in record_ids]
    if redis is None or not ids:
        return {}
    try:
        redis.zadd(LEASE_KEY, {f"{record_id} {user_id}": now for record_id in ids})
        members = redis.zrangebyscore(LEASE_KEY, now - LEASE_SECONDS, "+inf", withscores=True)
    except Exception:
        return {}
    wanted, mine = set(ids), {}
    leases = []
    for member, score in members:
        record_id, _, holder = (member.decode() if isinstance(member, bytes) else str(member)).partition(" ")
        if record_id in wanted:
            leases.append((score, holder, record_id))
            if holder == user_id:
                mine[record_id] = (score, holder)
    earlier: dict[str, int] = {}
    for score, holder, record_id in leases:
        if holder != user_id and (score, holder) < mine.get(record_id, (now, user_id)):
            earlier[record_id] = earlier.get(record_id, 0) + 1
    return earlier


def release(record_id: Any, user_id: Any) -> None:
    """The annotator answered the record: it is no longer open on their page."""
    redis = _redis()
    if redis is not None:
        try:
            redis.zrem(LEASE_KEY, f"{record_id} {user_id}")
        except Exception:
            pass


def _rank(user_id: Any, record_id: Any) -> int:
    """Stable pseudo-random rank of a record in one user's queue (SQL function ``charm_rank``)."""
    digest = hashlib.blake2b(f"{user_id}:{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # fits in SQLite's signed 64-bit integer


def stripe_bounds(slot: int, members: int) -> tuple[str, str | None]:
    """The id range of stripe ``slot`` of ``members``: ids whose first 8 hex digits are in [low, high)
    (``high`` None for the last stripe). Record ids are random UUIDs, so stripes are about equal."""
    low = f"{(slot * 2**32) // members:08x}"
    high = f"{((slot + 1) * 2**32) // members:08x}" if slot + 1 < members else None
    return low, high


def _get_engine() -> AsyncEngine:
    """One SQLAlchemy engine per process, shared by every (per-request) search engine instance.

    PostgreSQL: argilla-server's own engine (its pool). SQLite: a second engine whose connections
    have the ``charm_rank`` function."""
    global _engine
    if _engine is None:
        if settings.database_is_postgresql:
            from argilla_server.database import async_engine

            _engine = async_engine
            return _engine
        if not settings.database_is_sqlite:
            raise RuntimeError(f"The {ENGINE_NAME!r} search engine works on SQLite and PostgreSQL only")
        engine = create_async_engine(settings.database_url, **settings.database_engine_args)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.create_function("charm_rank", 2, _rank, deterministic=True)

        _engine = engine
    return _engine


def _json_path(key: str) -> str:
    """A JSON path selecting the top-level ``key`` (quoted, so any property name works)."""
    return '$."' + key.replace('"', '\\"') + '"'


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Query:
    """Collects SQL fragments and typed bound parameters for one statement, in SQLite's or (``pg``)
    PostgreSQL's dialect."""

    def __init__(self, pg: bool = False) -> None:
        self._params: list[Any] = []
        self.pg = pg

    def bind(self, value: Any, type_: Any = None) -> str:
        name = f"p{len(self._params)}"
        self._params.append(bindparam(name, value, type_=type_) if type_ is not None else bindparam(name, value))
        return ":" + name

    def bind_uuid(self, value: UUID | str) -> str:
        return self.bind(value if isinstance(value, UUID) else UUID(str(value)), Uuid())

    def bind_list(self, values: Iterable[Any]) -> str:
        return "(" + ", ".join(self.bind(v) for v in values) + ")"

    def statement(self, sql: str, **columns: Any) -> Any:
        stmt = text(sql).bindparams(*self._params)
        return stmt.columns(**columns) if columns else stmt

    # -- dialect -----------------------------------------------------------------------------------

    def as_text(self, column: str) -> str:
        """A text column as is; on PostgreSQL enum columns (status, type) are compared as text."""
        return f"CAST({column} AS TEXT)" if self.pg else column

    def json_value(self, column: str, key: str | None = None, *, sub: str | None = None) -> str:
        """The JSON value of ``column`` (at top-level ``key``, then at ``sub``): SQLite ``json_extract``
        (a native value), PostgreSQL ``jsonb`` with JSON null as SQL NULL (jsonb orders numbers numerically)."""
        if not self.pg:
            path = "'$'" if key is None else self.bind(_json_path(key) + (f".{sub}" if sub else ""))
            return f"json_extract({column}, {path})"
        expr = f"CAST({column} AS jsonb)"
        if key is not None:
            expr += f" -> {self.bind(key)}"
        if sub is not None:
            expr += f" -> {self.bind(sub)}"
        return f"NULLIF({expr}, 'null'::jsonb)"

    def json_each(self, column: str, key: str | None = None, *, sub: str | None = None) -> str:
        """A FROM item ``je`` with one row per element of the array at ``key`` (one row for a scalar)."""
        if not self.pg:
            if key is None:
                return f"json_each({column}) AS je"
            return f"json_each({column}, {self.bind(_json_path(key) + (f'.{sub}' if sub else ''))}) AS je"
        value = self.json_value(column, key, sub=sub)
        return (
            f"jsonb_array_elements(CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} "
            f"ELSE jsonb_build_array({value}) END) AS je(value)"
        )

    def je_text(self) -> str:
        """The current ``je`` element as text."""
        return "je.value #>> '{}'" if self.pg else "CAST(je.value AS TEXT)"

    def je_real(self) -> str:
        """The current ``je`` element as a number (NULL unless a JSON number on PostgreSQL)."""
        return self.json_number("je.value") if self.pg else "CAST(je.value AS REAL)"

    @staticmethod
    def json_number(value: str) -> str:
        """PostgreSQL: a ``jsonb`` value as double precision when it is a number, else NULL."""
        return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value} #>> '{{}}')::double precision END)"

    def number(self, column: str, key: str, *, sub: str | None = None) -> str:
        """The JSON value at ``key`` (and ``sub``) as a number."""
        if self.pg:
            return self.json_number(self.json_value(column, key, sub=sub))
        return f"CAST({self.json_value(column, key, sub=sub)} AS REAL)"

    def rank(self, user_id: str) -> str:
        """The per-user stable pseudo-random rank of record ``r``."""
        if self.pg:
            return f"md5({self.bind(user_id)} || ':' || CAST(r.id AS TEXT))"
        return f"charm_rank({self.bind(user_id)}, r.id)"

    def needed(self, default_needed: int) -> str:
        """Annotators record ``r`` needs: its ``min_submitted`` metadata, else the dataset's."""
        return f"COALESCE({self.number('r.metadata', RECORD_MIN_SUBMITTED)}, {self.bind(default_needed)})"

    def covered(self, leased: dict[str, int], default_needed: int) -> str:
        """True when record ``r`` is open on as many other pages as it still needs submissions."""
        by_holders: dict[int, list[str]] = {}
        for record_id, holders in leased.items():
            by_holders.setdefault(holders, []).append(record_id)
        # SQLite: "+status" keeps the planner on the record's responses (by status it scans them all)
        status = self.as_text("resp.status") if self.pg else "+resp.status"
        submitted = f"(SELECT count(*) FROM responses AS resp WHERE resp.record_id = r.id AND {status} = 'submitted')"
        parts = [
            f"(r.id IN ({', '.join(self.bind_uuid(rid) for rid in ids)}) "
            f"AND {self.needed(default_needed)} - {submitted} <= {self.bind(holders)})"
            for holders, ids in sorted(by_holders.items())
        ]
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    def own_stripe(self, slot: int, members: int, default_needed: int, max_needed: int) -> str:
        """True when record ``r`` belongs to the member in ``slot``: its id is in stripe ``slot``, or in
        stripe ``slot - d`` and it needs more than ``d`` annotators (``d`` < ``max_needed``)."""
        record_id = "CAST(r.id AS TEXT)" if self.pg else "r.id"
        parts = []
        for d in range(min(members, max(1, max_needed))):
            low, high = stripe_bounds((slot - d) % members, members)
            cond = f"{record_id} >= {self.bind(low)}" + (f" AND {record_id} < {self.bind(high)}" if high else "")
            if d:  # every bound parameter must appear in the statement: bind the need only where used
                cond += f" AND {self.needed(default_needed)} > {self.bind(d)}"
            parts.append(f"({cond})")
        return "(" + " OR ".join(parts) + ")"

    # -- filters --------------------------------------------------------------------------------

    def filter_sql(self, flt: Filter) -> str:
        if isinstance(flt, AndFilter):
            parts = [self.filter_sql(f) for f in flt.filters]
            return "(" + " AND ".join(parts) + ")" if parts else "TRUE"
        scope = flt.scope
        if isinstance(scope, RecordFilterScope):
            return self._record_filter(flt, scope)
        if isinstance(scope, MetadataFilterScope):
            return self._metadata_filter(flt, scope)
        if isinstance(scope, ResponseFilterScope):
            return self._response_filter(flt, scope)
        if isinstance(scope, SuggestionFilterScope):
            return self._suggestion_filter(flt, scope)
        raise ValueError(f"Cannot process filter scope {scope!r}")

    def _range(self, expr: str, flt: RangeFilter) -> str:
        parts = []
        if flt.ge is not None:
            parts.append(f"{expr} >= {self.bind(flt.ge)}")
        if flt.le is not None:
            parts.append(f"{expr} <= {self.bind(flt.le)}")
        return "(" + " AND ".join(parts) + ")" if parts else f"({expr} IS NOT NULL)"

    def _record_filter(self, flt: Filter, scope: RecordFilterScope) -> str:
        prop = scope.property
        if prop not in _RECORD_COLUMNS:
            raise ValueError(f"Cannot filter on record property {prop!r}")
        if isinstance(flt, TermsFilter):
            if not flt.values:
                return "FALSE"
            if prop == "id":
                return "r.id IN (" + ", ".join(self.bind_uuid(v) for v in flt.values) + ")"
            column = self.as_text("r.status") if prop == "status" else f"r.{prop}"
            return f"{column} IN {self.bind_list(flt.values)}"
        return self._range(f"r.{prop}", flt)

    def _metadata_filter(self, flt: Filter, scope: MetadataFilterScope) -> str:
        if isinstance(flt, TermsFilter):
            if not flt.values:
                return "FALSE"
            return (
                f"EXISTS (SELECT 1 FROM {self.json_each('r.metadata', scope.metadata_property)} "
                f"WHERE {self.je_text()} IN {self.bind_list(str(v) for v in flt.values)})"
            )
        return self._range(self.number("r.metadata", scope.metadata_property), flt)

    def _response_filter(self, flt: Filter, scope: ResponseFilterScope) -> str:
        user_clause = f" AND resp.user_id = {self.bind_uuid(scope.user.id)}" if scope.user else ""
        if scope.question:
            source = self.json_each('resp."values"', scope.question, sub="value")
            if isinstance(flt, TermsFilter):
                cond = f"{self.je_text()} IN {self.bind_list(str(v) for v in flt.values)}"
            else:
                cond = self._range(self.je_real(), flt)
            return (
                f"EXISTS (SELECT 1 FROM responses AS resp, {source} "
                f"WHERE resp.record_id = r.id{user_clause} AND {cond})"
            )
        if scope.property == "status" and isinstance(flt, TermsFilter):
            values = [str(v) for v in flt.values]
            parts = []
            if ResponseStatusFilter.pending.value in values:
                parts.append(f"NOT EXISTS (SELECT 1 FROM responses AS resp WHERE resp.record_id = r.id{user_clause})")
            others = [v for v in values if v != ResponseStatusFilter.pending.value]
            if others:
                parts.append(
                    "EXISTS (SELECT 1 FROM responses AS resp WHERE resp.record_id = r.id"
                    f"{user_clause} AND {self.as_text('resp.status')} IN {self.bind_list(others)})"
                )
            return "(" + " OR ".join(parts) + ")" if parts else "FALSE"
        raise ValueError(f"Cannot process response filter scope {scope!r}")

    def _suggestion_filter(self, flt: Filter, scope: SuggestionFilterScope) -> str:
        question = self.bind(scope.question)
        base = (
            "EXISTS (SELECT 1 FROM suggestions AS s JOIN questions AS q ON q.id = s.question_id{join} "
            f"WHERE s.record_id = r.id AND q.name = {question} AND {{cond}})"
        )
        prop = scope.property
        if prop in _SUGGESTION_COLUMNS:
            if isinstance(flt, TermsFilter):
                return base.format(join="", cond=f"{self.as_text(f's.{prop}')} IN {self.bind_list(flt.values)}")
            raise ValueError(f"Cannot apply a range filter on suggestion {prop!r}")
        if prop in ("value", "score"):
            join = f", {self.json_each(f's.{prop}')}"
            if isinstance(flt, TermsFilter):
                cond = f"{self.je_text()} IN {self.bind_list(str(v) for v in flt.values)}"
            else:
                cond = self._range(self.je_real(), flt)
            return base.format(join=join, cond=cond)
        raise ValueError(f"Cannot filter on suggestion property {prop!r}")

    # -- text ------------------------------------------------------------------------------------

    def text_sql(self, dataset: Dataset, query: TextQuery | str) -> str:
        if isinstance(query, str):
            query = TextQuery(q=query)
        tokens = [quoted or bare for quoted, bare in _TOKEN_RE.findall(query.q)]
        tokens = [t for t in tokens if t.strip()]
        if not tokens:
            return "TRUE"
        if query.field and dataset.field_by_name(query.field) is None:
            raise ValueError(f"Field {query.field} not found in dataset {dataset.id}")
        if self.pg:  # every string anywhere in the field(s), at any depth (chat turns are nested)
            column = (
                f"CAST(r.fields AS jsonb) -> {self.bind(query.field)}" if query.field else "CAST(r.fields AS jsonb)"
            )
            source, cond = (
                f"jsonb_path_query({column}, 'strict $.**') AS jt(value)",
                "jsonb_typeof(jt.value) = 'string'",
            )
            atom, like = "jt.value #>> '{}'", "ILIKE"
        else:
            path = f", {self.bind(_json_path(query.field))}" if query.field else ""
            source, cond, atom, like = f"json_tree(r.fields{path}) AS jt", "jt.type = 'text'", "jt.atom", "LIKE"
        parts = [
            f"EXISTS (SELECT 1 FROM {source} WHERE {cond} "
            f"AND {atom} {like} {self.bind('%' + _like_escape(token) + '%')} ESCAPE '\\')"
            for token in tokens
        ]
        return "(" + " AND ".join(parts) + ")"

    # -- sort ------------------------------------------------------------------------------------

    def order_sql(self, order: Order) -> str:
        scope = order.scope
        if isinstance(scope, RecordFilterScope):
            if scope.property not in _RECORD_COLUMNS:
                raise ValueError(f"Cannot sort on record property {scope.property!r}")
            expr = self.as_text("r.status") if scope.property == "status" else f"r.{scope.property}"
        elif isinstance(scope, MetadataFilterScope):
            expr = self.json_value("r.metadata", scope.metadata_property)
        elif isinstance(scope, SuggestionFilterScope):
            column = (
                self.as_text(f"s.{scope.property}")
                if scope.property in _SUGGESTION_COLUMNS
                else self.json_value(f"s.{scope.property}")
            )
            expr = (
                f"(SELECT {column} FROM suggestions AS s JOIN questions AS q ON q.id = s.question_id "
                f"WHERE s.record_id = r.id AND q.name = {self.bind(scope.question)} LIMIT 1)"
            )
        elif isinstance(scope, ResponseFilterScope):
            if scope.question:
                value = (
                    self.number('resp."values"', scope.question, sub="value")
                    if self.pg
                    else self.json_value('resp."values"', scope.question, sub="value")
                )
                agg = "avg"
            else:
                value, agg = self.as_text(f"resp.{scope.property or 'status'}"), "min"
            user_clause = f" AND resp.user_id = {self.bind_uuid(scope.user.id)}" if scope.user else ""
            expr = f"(SELECT {agg}({value}) FROM responses AS resp WHERE resp.record_id = r.id{user_clause})"
        else:
            raise TypeError(f"Cannot sort on scope {scope!r}")
        direction = "DESC" if str(order.order) == SortOrder.desc.value else "ASC"
        return f"({expr}) IS NULL, {expr} {direction}"


def _where(q: _Query, dataset: Dataset, query: Any, flt: Filter | None) -> str:
    clauses = [f"r.dataset_id = {q.bind_uuid(dataset.id)}"]
    if query is not None:
        clauses.append(q.text_sql(dataset, query))
    if flt is not None:
        clauses.append(q.filter_sql(flt))
    return " AND ".join(clauses)


@SearchEngine.register(engine_name=ENGINE_NAME)
class SQLiteSearchEngine(SearchEngine):
    """Search engine over Argilla's own tables in SQLite or PostgreSQL (no external service, no index to
    keep in sync)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    def _query(self) -> _Query:
        return _Query(pg=self.pg)

    @classmethod
    async def new_instance(cls) -> SQLiteSearchEngine:
        return cls(_get_engine())

    async def close(self) -> None:
        """Nothing to release: the SQL engine is shared by all instances of the process."""

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            return (await conn.execute(text("SELECT 1"))).scalar() == 1

    async def info(self) -> dict:
        async with self.engine.connect() as conn:
            sql = "SELECT 'PostgreSQL ' || current_setting('server_version')" if self.pg else "SELECT sqlite_version()"
            version = (await conn.execute(text(sql))).scalar()
        return {"distribution": ENGINE_NAME, "version": version}

    # -- index hooks: the database is the index ----------------------------------------------------

    async def create_index(self, dataset: Dataset) -> None:
        """No-op: records are read from the database."""

    async def delete_index(self, dataset: Dataset) -> None:
        """No-op: records are read from the database."""

    async def configure_metadata_property(self, dataset: Dataset, metadata_property: MetadataProperty) -> None:
        """No-op: metadata is read from the database."""

    async def configure_index_vectors(self, vector_settings: VectorSettings) -> None:
        """No-op: vectors are read from the database."""

    async def index_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        """No-op: records are read from the database."""

    async def partial_record_update(self, record: Record, **update: Any) -> None:
        """No-op: records are read from the database."""

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        """No-op: records are read from the database."""

    async def update_record_response(self, response: Response) -> None:
        """Responses are read from the database; the record is no longer open on its annotator's page."""
        release(response.record_id, response.user_id)

    async def delete_record_response(self, response: Response) -> None:
        """No-op: responses are read from the database."""

    async def update_record_suggestion(self, suggestion: Suggestion) -> None:
        """No-op: suggestions are read from the database."""

    async def delete_record_suggestion(self, suggestion: Suggestion) -> None:
        """No-op: suggestions are read from the database."""

    # -- progress ----------------------------------------------------------------------------------

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        q = self._query()
        sql = f"SELECT r.status, count(*) FROM records AS r WHERE r.dataset_id = {q.bind_uuid(dataset.id)} GROUP BY r.status"
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q.statement(sql))).all()
        counts = {str(status): int(n) for status, n in rows}
        return {"total": sum(counts.values()), **counts}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        q = self._query()
        sql = (
            "SELECT resp.status, count(*) FROM responses AS resp JOIN records AS r ON r.id = resp.record_id "
            f"WHERE r.dataset_id = {q.bind_uuid(dataset.id)} AND resp.user_id = {q.bind_uuid(user.id)} "
            "GROUP BY resp.status"
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q.statement(sql))).all()
        counts = {str(status): int(n) for status, n in rows}
        return {"total": sum(counts.values()), **counts}

    # -- search ------------------------------------------------------------------------------------

    async def _members(self, conn: Any, workspace_id: UUID) -> list[str]:
        """The ids of the workspace's members, in id order (their stripe slots)."""
        q = self._query()
        sql = f"SELECT wu.user_id AS id FROM workspaces_users AS wu WHERE wu.workspace_id = {q.bind_uuid(workspace_id)}"
        rows = (await conn.execute(q.statement(sql, id=Uuid()))).all()
        return sorted(str(row.id) for row in rows)

    async def search(
        self,
        dataset: Dataset,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        sort: list[Order] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: UUID | str | None = None,
    ) -> SearchResponses:
        async with self.engine.connect() as conn:
            stripe = None
            prioritised = not sort and await self._has_priority(conn, dataset)
            if not sort and user_id is not None:
                stripe = await self._stripe(conn, dataset, str(user_id))
            if stripe is None:
                ids, total = await self._page(
                    conn, dataset, query, filter, sort, offset, limit, user_id, prioritised=prioritised
                )
            else:  # own stripe first (in id order), then the others' (per-user random order); leaving out the
                # records open on as many other pages as they need annotators, and the partly open ones last
                leased = leased_by_others(str(user_id))
                page = functools.partial(
                    self._page,
                    conn,
                    dataset,
                    query,
                    filter,
                    None,
                    stripe=stripe,
                    leased=leased,
                    prioritised=prioritised,
                )
                own_ids, own_total = await page(offset, limit, user_id)
                ids, total = own_ids, own_total
                if len(own_ids) < limit:
                    more, others_total = await page(
                        max(0, offset - own_total), limit - len(own_ids), user_id, others=True
                    )
                    ids, total = own_ids + more, own_total + others_total
                else:
                    total = own_total + await self._count(conn, dataset, query, filter, stripe, True, leased)
                contested = lease(str(user_id), ids)
                if contested:  # served to someone else a moment earlier: keep only what still needs us
                    taken = await self._fully_held(conn, contested, stripe[2])
                    for record_id in taken:
                        release(record_id, user_id)
                    ids = [rid for rid in ids if str(rid) not in taken]
        score = 1.0 if query is not None else None
        return SearchResponses(items=[SearchResponseItem(record_id=rid, score=score) for rid in ids], total=total)

    async def _has_priority(self, conn: Any, dataset: Dataset) -> bool:
        """Whether the dataset has the ``priority`` metadata property (``annotate next --push`` adds it)."""
        q = self._query()
        sql = (
            f"SELECT 1 FROM metadata_properties WHERE dataset_id = {q.bind_uuid(dataset.id)} "
            f"AND name = {q.bind(PRIORITY)} LIMIT 1"
        )
        return (await conn.execute(q.statement(sql))).first() is not None

    async def _fully_held(self, conn: Any, earlier: dict[str, int], default_needed: int) -> set[str]:
        """Of records opened by others first (id -> how many), those that need no more annotators than that."""
        q = self._query()
        sql = (
            f"SELECT r.id AS id FROM records AS r WHERE r.id IN ({', '.join(q.bind_uuid(rid) for rid in earlier)}) "
            f"AND {q.covered(earlier, default_needed)}"
        )
        return {str(row.id) for row in (await conn.execute(q.statement(sql, id=Uuid()))).all()}

    async def _stripe(self, conn: Any, dataset: Dataset, user_id: str) -> tuple[int, int, int, int] | None:
        """(slot, members, dataset's min_submitted, largest need) of a workspace member; None for others."""
        members = await self._members(conn, dataset.workspace_id)
        if user_id not in members:
            return None
        default = int((dataset.distribution or {}).get("min_submitted") or 1)
        return members.index(user_id), len(members), default, max(default, await self._max_needed(conn, dataset))

    async def _max_needed(self, conn: Any, dataset: Dataset) -> int:
        """The largest ``min_submitted`` record metadata of the dataset (0 without), cached for ten minutes (a
        scan of every record; a stale value only puts a record among the others' instead of one's own)."""
        key = str(dataset.id)
        cached = _MAX_NEEDED.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        q = self._query()
        sql = (
            f"SELECT max({q.number('r.metadata', RECORD_MIN_SUBMITTED)}) FROM records AS r "
            f"WHERE r.dataset_id = {q.bind_uuid(dataset.id)}"
        )
        value = int((await conn.execute(q.statement(sql))).scalar() or 0)
        _MAX_NEEDED[key] = (value, time.monotonic() + 600.0)
        return value

    async def _count(
        self,
        conn: Any,
        dataset: Dataset,
        query: Any,
        filter: Filter | None,
        stripe: Any = None,
        others: bool = False,
        leased: dict[str, int] | None = None,
    ) -> int:
        q = self._query()
        where = self._stripe_where(q, dataset, query, filter, stripe, others, leased)
        return int((await conn.execute(q.statement(f"SELECT count(*) FROM records AS r WHERE {where}"))).scalar() or 0)

    async def _page(
        self,
        conn: Any,
        dataset: Dataset,
        query: Any,
        filter: Filter | None,
        sort: list[Order] | None,
        offset: int,
        limit: int,
        user_id: UUID | str | None,
        stripe: Any = None,
        others: bool = False,
        leased: dict[str, int] | None = None,
        prioritised: bool = False,
    ) -> tuple[list[Any], int]:
        """One page of record ids and the total: ``sort`` order, else ``user_id``'s random order (else
        insertion order); with ``stripe`` only the member's own records (in id order) or, ``others``, the
        rest, ``leased`` ones (open on others' pages) last; ``prioritised``: records with a ``priority``
        first, by rank."""
        q = self._query()
        where = self._stripe_where(q, dataset, query, filter, stripe, others, leased)
        order_parts = [q.order_sql(order) for order in sort or []]
        if leased:
            order_parts.append(f"CASE WHEN r.id IN ({', '.join(q.bind_uuid(rid) for rid in leased)}) THEN 1 ELSE 0 END")
        if prioritised:
            rank = q.number("r.metadata", PRIORITY)
            order_parts.append(f"({rank}) IS NULL, {rank} ASC")
        if stripe is not None and not others:
            order_parts.append("r.id ASC")
        elif not order_parts and user_id is not None:
            order_parts.append(q.rank(str(user_id)))
        order_parts += ["r.inserted_at ASC", "r.id ASC"]
        page = (
            f"SELECT r.id AS id, count(*) OVER () AS total FROM records AS r WHERE {where} "
            f"ORDER BY {', '.join(order_parts)} LIMIT {q.bind(int(limit))} OFFSET {q.bind(int(offset))}"
        )
        rows = (await conn.execute(q.statement(page, id=Uuid()))).all()
        if rows:
            return [row.id for row in rows], int(rows[0].total)
        return [], await self._count(conn, dataset, query, filter, stripe, others, leased)  # past the end

    @staticmethod
    def _stripe_where(
        q: _Query,
        dataset: Dataset,
        query: Any,
        filter: Filter | None,
        stripe: Any,
        others: bool,
        leased: dict[str, int] | None,
    ) -> str:
        where = _where(q, dataset, query, filter)
        if stripe is not None:
            where += f" AND {'NOT ' if others else ''}{q.own_stripe(*stripe)}"
            if leased:
                where += f" AND NOT {q.covered(leased, stripe[2])}"
        return where

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: list[float] | None = None,
        record: Record | None = None,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        vector = value or record.vector_value_by_vector_settings(vector_settings)
        if not vector:
            raise ValueError("Cannot find a vector value to apply with provided info")
        q = self._query()
        where = _where(q, dataset, query, filter)
        if record is not None:
            where += f" AND r.id != {q.bind_uuid(record.id)}"
        sql = (
            "SELECT r.id AS id, v.value AS value FROM vectors AS v JOIN records AS r ON r.id = v.record_id "
            f"WHERE v.vector_settings_id = {q.bind_uuid(vector_settings.id)} AND {where}"
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q.statement(sql, id=Uuid()))).all()
        scored = []
        for row in rows:
            other = row.value if isinstance(row.value, list) else json.loads(row.value)
            score = (1.0 + _cosine(vector, other)) / 2.0  # Elasticsearch's cosine score scale
            if order == SimilarityOrder.least_similar:
                score = 1.0 - score
            scored.append((score, row.id))
        scored.sort(key=lambda item: (-item[0], str(item[1])))
        items = [SearchResponseItem(record_id=rid, score=s) for s, rid in scored[:max_results]]
        if threshold is not None:
            items = [item for item in items if item.score is not None and item.score >= threshold]
        return SearchResponses(items=items, total=len(items))

    # -- metadata metrics --------------------------------------------------------------------------

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        q = self._query()
        dataset_id = q.bind_uuid(metadata_property.dataset_id)
        name = metadata_property.name
        async with self.engine.connect() as conn:
            if metadata_property.type == MetadataPropertyType.terms:
                sql = (
                    f"SELECT {q.je_text()} AS term, count(*) AS n FROM records AS r, "
                    f"{q.json_each('r.metadata', name)} WHERE r.dataset_id = {dataset_id} "
                    f"AND {q.je_text()} IS NOT NULL GROUP BY term ORDER BY n DESC, term ASC"
                )
                rows = (await conn.execute(q.statement(sql))).all()
                values = [TermsMetrics.TermCount(term=str(term), count=int(n)) for term, n in rows]
                return TermsMetrics(total=sum(v.count for v in values), values=values)
            sql = (
                f"SELECT min({q.number('r.metadata', name)}), max({q.number('r.metadata', name)}) FROM records AS r "
                f"WHERE r.dataset_id = {dataset_id} AND {q.json_value('r.metadata', name)} IS NOT NULL"
            )
            low, high = (await conn.execute(q.statement(sql))).one()
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(
                min=None if low is None else int(low), max=None if high is None else int(high)
            )
        return FloatMetadataMetrics(min=low, max=high)


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
