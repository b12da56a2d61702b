"""Workspace -> polars frames, from the store's bulk reads (``charm_builder.store.reads``).

Exports touch every candidate set and annotation, so validating hundreds of thousands of
pydantic objects would dominate the run time. The store validated each record when it was
written; its reads hand over stored documents page by page (parsed a page at once, see
``documents``) or a few fields pulled with SQLite JSON functions. Candidate sets are scanned once
into light frames (ids, labels, hashes); their texts are fetched again by id only for the rows
being written (``fetch_candidate_sets``).
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl

from charm_builder.export import documents
from charm_builder.export.documents import compact, parse_documents
from charm_builder.export.splits import context_key_expr
from charm_builder.store import Workspace, connect, reads

BATCH_ROWS = 50_000
T = TypeVar("T")
PAGE_ROWS = 20_000  # candidate-set documents parsed at a time (about 4 KB each)

# A dialogue turn as stored (schemas.Message) and as exported in roleReward / dialogueQuality.
MESSAGE_DTYPE = pl.Struct({"role": pl.String, "speaker": pl.String, "text": pl.String})
CONTEXT_DTYPE = pl.List(MESSAGE_DTYPE)


def query_frame(cur: sqlite3.Cursor, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Build a frame from a store read's cursor in batches (bounded Python-object memory)."""
    parts = []
    while rows := cur.fetchmany(BATCH_ROWS):
        parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, rechunk=True)


def load_characters(ws: Workspace) -> pl.DataFrame:
    """One row per character: id, categories, names and system prompts per language."""
    return query_frame(
        reads.characters(ws),
        {
            "character_id": pl.String,
            "primary_category": pl.String,
            "sub_category": pl.String,
            "name_zh": pl.String,
            "name_en": pl.String,
            "system_prompt_zh": pl.String,
            "system_prompt_en": pl.String,
        },
    )


def load_dialogue_turns(ws: Workspace, dialogue_ids: Sequence[str]) -> pl.DataFrame:
    """Turns of the given dialogues as a decoded ``context`` column."""
    ids = sorted(set(dialogue_ids))
    frames = []
    for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 900]
        frames.append(
            query_frame(reads.dialogue_turns(ws, chunk), {"dialogue_id": pl.String, "context_json": pl.String})
        )
    frame = pl.concat(frames) if frames else pl.DataFrame(schema={"dialogue_id": pl.String, "context_json": pl.String})
    return frame.with_columns(decode_context(pl.col("context_json"))).drop("context_json")


CANDIDATES_DTYPE = pl.List(
    pl.Struct({"label": pl.String, "model_id": pl.String, "text": pl.String, "flags": pl.List(pl.String)})
)
# Candidate flags (set when candidates are generated) that keep a reply out of every chosen/rejected slot.
UNUSABLE_FLAGS: tuple[str, ...] = ("empty", "duplicate")


def unusable_expr() -> pl.Expr:
    """True for a candidate flagged ``empty`` or ``duplicate``."""
    flags = pl.col("flags").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    return flags.list.eval(pl.element().is_in(list(UNUSABLE_FLAGS))).list.any().fill_null(False).alias("unusable")


TEXT_KEY_SEED = 0


def scan_candidate_sets(
    ws: Workspace,
    page_rows: int = PAGE_ROWS,
    keep_context: bool = False,
    on_page: Callable[[pl.DataFrame], None] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Light frames of every candidate set, read page by page (memory bounded by the page plus these):

    * sets: candidate_set_id, dialogue_id, ``context_key`` (plus the decoded ``context`` with ``keep_context``);
    * candidates: candidate_set_id, label, model_id, ``unusable`` (flagged empty or duplicate) and
      ``text_key``, a 64-bit hash of the reply text (chosen == rejected is tested on it; the texts
      themselves are read again only for the rows that are written, see ``materialize``).

    ``on_page`` gets each parsed page (candidate_set_id, dialogue_id, context, candidates) while it is in
    memory (``spill.TrainSpill`` builds the training rows from it).
    """
    sets, cands = [], []
    for page in prefetched(ws, lambda own: reads.candidate_set_documents(own, page_rows)):
        frame = parse_documents(page, documents.CANDIDATE_SET).rename({"id": "candidate_set_id"})
        if on_page is not None:
            on_page(frame)
        keep = ["context"] if keep_context else []
        sets.append(compact(frame.select("candidate_set_id", "dialogue_id", context_key_expr(), *keep)))
        cands.append(
            compact(
                explode_candidates(frame)
                .with_columns(unusable_expr(), pl.col("text").hash(seed=TEXT_KEY_SEED).alias("text_key"))
                .drop("flags", "text")
            )
        )
    if not sets:
        context = {"context": CONTEXT_DTYPE} if keep_context else {}
        return (
            pl.DataFrame(
                schema={
                    "candidate_set_id": pl.String,
                    "dialogue_id": pl.String,
                    "context_key": pl.UInt64,
                    **context,
                }
            ),
            pl.DataFrame(
                schema={
                    "candidate_set_id": pl.String,
                    "label": pl.String,
                    "model_id": pl.String,
                    "unusable": pl.Boolean,
                    "text_key": pl.UInt64,
                }
            ),
        )
    return pl.concat(sets), pl.concat(cands)


def in_background(ws: Workspace, read: Callable[[Workspace], T]) -> Future[T]:
    """Run ``read`` on its own connection in a thread. SQLite and the parsers release the GIL, so the
    read overlaps the caller's work when a second core is free."""

    def run() -> T:
        with Workspace(ws.root, connect(ws.db_path)) as own:
            return read(own)

    executor = ThreadPoolExecutor(1, thread_name_prefix="charm-read")
    future = executor.submit(run)
    executor.shutdown(wait=False)
    return future


def prefetched(ws: Workspace, pages: Callable[[Workspace], Iterator[T]]) -> Iterator[T]:
    """``pages(own_connection)``, read one page ahead in a thread (at most one page waits in memory)."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with Workspace(ws.root, connect(ws.db_path)) as own:
                for page in pages(own):
                    if not put(("page", page)):
                        return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    worker = threading.Thread(target=produce, name="charm-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def explode_candidates(sets: pl.DataFrame) -> pl.DataFrame:
    """One row per candidate of parsed candidate-set documents: candidate_set_id, label, model_id, text, flags."""
    return (
        sets.select("candidate_set_id", pl.col("candidates").alias("c"))
        .explode("c")
        .unnest("c")
        .filter(pl.col("label").is_not_null())
    )


def fetch_candidate_sets(ws: Workspace, candidate_set_ids: Sequence[str]) -> pl.DataFrame:
    """The given candidate sets with their decoded ``context`` and ``candidates`` (for the rows being written)."""
    docs = reads.candidate_set_documents_by_id(ws, candidate_set_ids)
    return parse_documents(docs, documents.CANDIDATE_SET).rename({"id": "candidate_set_id"})


def load_submitted_annotations(
    ws: Workspace, include_synthetic: bool = False, page_rows: int = PAGE_ROWS * 5
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Submitted best/worst picks (drafts and discarded annotations never count) and how many submitted
    annotations there are per source ({"human": n, "synthetic": m}). Synthetic (LLM-judge) annotations are
    in the frame only with ``include_synthetic``: they are never mixed in silently."""
    parts, sources = [], {"human": 0, "synthetic": 0}
    for page in reads.submitted_annotation_documents(ws, page_rows):
        frame = parse_documents(page, documents.ANNOTATION).with_columns(pl.col("source").fill_null("human"))
        for source, n in frame.group_by("source").len().iter_rows():
            sources[source] = sources.get(source, 0) + n
        if not include_synthetic:
            frame = frame.filter(pl.col("source") == "human")
        parts.append(compact(frame.drop("source")))
    if not parts:
        empty = pl.DataFrame(
            schema={"candidate_set_id": pl.String, "annotator": pl.String, "best": pl.String, "worst": pl.String}
        )
        return empty, sources
    return pl.concat(parts), {"human": sources["human"], "synthetic": sources["synthetic"]}


@dataclass
class DialogueFacts:
    """One pass over the dialogues: the light per-dialogue frame plus the simulator roster."""

    dialogues: pl.DataFrame  # dialogue_id, character_id, language, dimension, n_turns, planned_turns
    simulator_settings: list[str]  # distinct, sorted ("source models-JSON params-JSON")
    simulator_models: dict[str, list[str]]  # role -> distinct model ids, sorted


def load_dialogue_facts(ws: Workspace) -> DialogueFacts:
    """Every dialogue (no turn texts), its turn counts, and the simulator settings and models over all."""
    schema = {
        "dialogue_id": pl.String,
        "character_id": pl.String,
        "language": pl.String,
        "dimension": pl.String,
        "n_turns": pl.Int64,
        "planned_turns": pl.Float64,
    }
    cur = reads.dialogue_facts(ws)
    parts, settings, model_texts = [], set(), set()
    while rows := cur.fetchmany(BATCH_ROWS):
        parts.append(pl.DataFrame([r[:6] for r in rows], schema=schema, orient="row"))
        settings.update(r[6] for r in rows if r[6] is not None)
        model_texts.update(r[7] for r in rows if r[7] is not None)
    models: set[tuple[str, str]] = set()
    for text in model_texts:
        value = json.loads(text)
        if isinstance(value, dict):
            models.update((str(k), str(v)) for k, v in value.items())
    roster: dict[str, list[str]] = {}
    for role, model in sorted(models):
        roster.setdefault(role, []).append(model)
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    return DialogueFacts(frame, sorted(settings), roster)


def load_judge_scores(ws: Workspace) -> pl.DataFrame:
    """Every stored LLM-judge score: set, label, judge, prompt version, score (null when unparsed)."""
    return query_frame(
        reads.judge_scores(ws),
        {
            "candidate_set_id": pl.String,
            "label": pl.String,
            "judge": pl.String,
            "prompt_version": pl.String,
            "score": pl.Float64,
        },
    )


def decode_context(expr: pl.Expr) -> pl.Expr:
    """Decode a JSON list of schemas.Message into the ``context`` column."""
    return expr.str.json_decode(CONTEXT_DTYPE).alias("context")


def system_prompt_expr() -> pl.Expr:
    """The character's system prompt in the row's language, falling back to the other one."""
    zh, en = pl.col("system_prompt_zh"), pl.col("system_prompt_en")
    return (
        pl.when(pl.col("language") == "zh")
        .then(pl.coalesce(zh, en))
        .otherwise(pl.coalesce(en, zh))
        .fill_null("")
        .alias("system_prompt")
    )
