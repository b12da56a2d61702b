"""Training pairs built during the one scan of the candidate sets, kept on disk until they are written.

``preferenceTraining/train`` holds most candidate sets, sorted by pair id. Reading their texts a second
time from the store would parse almost every document twice, so while the scan parses each page
(``load.scan_candidate_sets``), every pair that *could* be a training row (its set has a clear verdict
under ``train_min_annotators``, neither reply is flagged, the texts differ) is built with its prompt and
replies, exactly as ``preference.train_rows`` builds it, and appended to one of a few bucket files by
its id range. Once selection has chosen the rows, each bucket (a slice of the id order) is read back,
the chosen rows are taken in order and written; memory holds one page or one bucket at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from charm_builder.export.inputs import Inputs
from charm_builder.export.load import explode_candidates, unusable_expr
from charm_builder.export.preference import TRAIN_PLAN_COLUMNS, PairPolicy, candidate_pairs, train_rows
from charm_builder.export.splits import row_ids
from schemas import TRAIN_COLUMNS

PAIR_PREFIX = "pair"
HEX_DIGITS = 4  # bucket by the first 4 hex digits of the id
MAX_BUCKETS = 256


class TrainSpill:
    """Bucket files of candidate training rows (id, prompt, chosen, rejected) under ``folder``."""

    def __init__(self, folder: Path, *, min_annotators: int, policy: PairPolicy, n_sets: int, chunk_rows: int):
        self.folder = folder
        self.min_annotators = min_annotators
        self.policy = policy
        pairs_per_set = 1 if policy == "best-worst" else 9
        self.buckets = max(1, min(MAX_BUCKETS, math.ceil(n_sets * pairs_per_set / chunk_rows)))
        self.chunk_rows = chunk_rows
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self._schema: pa.Schema | None = None
        self._usable: _Index | None = None  # candidate sets with a clear verdict
        self._dialogues: _Index | None = None

    def path(self, bucket: int) -> Path:
        return self.folder / f"train-{bucket:05d}.arrow"

    def bucket_expr(self) -> pl.Expr:
        digits = pl.col("id").str.slice(len(PAIR_PREFIX) + 1, HEX_DIGITS).str.to_integer(base=16)
        return (digits * self.buckets // 16**HEX_DIGITS).cast(pl.Int64).alias("_bucket")

    def add_page(self, inputs: Inputs, page: pl.DataFrame) -> None:
        """Build and store the candidate training rows of one parsed page (see ``load.scan_candidate_sets``)."""
        if self._usable is None or self._dialogues is None:
            verdicts = inputs.votes(self.min_annotators).verdicts
            self._usable = _Index(
                verdicts.filter(pl.col("reason") == "ok").select("candidate_set_id", "best", "worst", "n_annotators"),
                "candidate_set_id",
            )
            self._dialogues = _Index(inputs.dialogues.select("dialogue_id", "character_id", "language"), "dialogue_id")
        usable = self._usable.rows(page["candidate_set_id"])
        if usable.is_empty():
            return
        cands = explode_candidates(page).with_columns(unusable_expr())
        pairs = candidate_pairs(usable, cands, self.policy)
        flags = cands.select("candidate_set_id", "label", "text", "unusable")
        for side in ("chosen", "rejected"):
            pairs = pairs.join(
                flags.rename({"label": f"{side}_label", "text": f"_{side}_text", "unusable": f"_{side}_bad"}),
                on=["candidate_set_id", f"{side}_label"],
                how="inner",
            )
        pairs = pairs.filter(
            ~pl.col("_chosen_bad") & ~pl.col("_rejected_bad") & (pl.col("_chosen_text") != pl.col("_rejected_text"))
        ).select("candidate_set_id", "chosen_label", "rejected_label")
        pairs = pairs.join(page.select("candidate_set_id", "dialogue_id"), on="candidate_set_id", how="inner").join(
            inputs.dialogues.select("dialogue_id", "character_id", "language"), on="dialogue_id", how="inner"
        )
        pairs = pairs.with_columns(row_ids(PAIR_PREFIX, pairs, ["candidate_set_id", "chosen_label", "rejected_label"]))
        built = train_rows(_as_plan(pairs), page, inputs.characters).select("id", "prompt", "chosen", "rejected")
        for (bucket,), part in built.with_columns(self.bucket_expr()).partition_by("_bucket", as_dict=True).items():
            self._write(int(bucket), part.drop("_bucket").to_arrow())

    def _write(self, bucket: int, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
        writer = self._writers.get(bucket)
        if writer is None:
            writer = self._writers[bucket] = pa.ipc.new_stream(str(self.path(bucket)), self._schema)
        writer.write_table(table.cast(self._schema))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def iter_train(
        self, plan: pl.DataFrame, fallback: Callable[[pl.DataFrame], pl.DataFrame]
    ) -> Iterator[pl.DataFrame]:
        """The planned train rows (``TRAIN_PLAN_COLUMNS``, sorted by id) with their texts (``TRAIN_COLUMNS`` +
        context_key), in order, ``chunk_rows`` at a time; one bucket is in memory at a time. A chunk with a
        row the scan did not build (not expected) is built by ``fallback`` instead."""
        self.close()
        planned = plan.with_columns(self.bucket_expr())
        for (bucket,), part in planned.partition_by("_bucket", as_dict=True, maintain_order=True).items():
            heavy = self._read(int(bucket))
            for start in range(0, part.height, self.chunk_rows):
                chunk = part.slice(start, self.chunk_rows).drop("_bucket")
                rows = chunk.join(heavy, on="id", how="left", maintain_order="left")
                if rows.height != chunk.height or "prompt" not in rows.columns or rows["prompt"].null_count():
                    yield fallback(chunk)
                else:
                    yield rows.select(*TRAIN_COLUMNS, "context_key")

    def _read(self, bucket: int) -> pl.DataFrame:
        path = self.path(bucket)
        if not path.exists():
            return pl.DataFrame(schema={"id": pl.String})
        with pa.ipc.open_stream(str(path)) as reader:
            return pl.from_arrow(reader.read_all())  # type: ignore[return-value]


class _Index:
    """A frame sorted on a unique key, for taking a page's rows without scanning the whole frame."""

    def __init__(self, frame: pl.DataFrame, key: str):
        self.frame = frame.sort(key)
        self.keys = self.frame[key]

    def rows(self, wanted: pl.Series) -> pl.DataFrame:
        """The rows whose key is in ``wanted`` (in key order)."""
        if self.frame.is_empty() or wanted.is_empty():
            return self.frame.clear()
        at = self.keys.search_sorted(wanted.sort(), side="left").clip(0, self.frame.height - 1)
        found = at.filter(self.keys.gather(at) == wanted.sort())
        return self.frame[found]


def _as_plan(pairs: pl.DataFrame) -> pl.DataFrame:
    """Just enough plan columns for ``train_rows`` to build prompt and replies (the rest filled with nulls)."""
    return pairs.with_columns(pl.lit(None).alias(c) for c in TRAIN_PLAN_COLUMNS if c not in pairs.columns)
