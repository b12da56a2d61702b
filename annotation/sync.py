"""Talk to an Argilla server: annotator accounts, push candidate sets, pull responses, progress.

All functions take an ``argilla.Argilla`` client (owner or admin) and, where data moves, the charm-builder
:class:`~charm_builder.store.workspace.Workspace` store. Pushing is idempotent: a record's id is its
candidate set id, and records already on the server are skipped, so an interrupted push can be rerun
without duplicates. Pulling upserts :class:`schemas.Annotation` rows (ids derive from candidate set +
annotator), so pulling twice changes nothing; responses whose best equals worst are rejected and reported.

Secrets: generated passwords go once into a 0600 file and are never printed; API keys are never
written anywhere by this module.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import argilla as rg
import yaml

from annotation.datasets import (
    DEFAULT_MIN_SUBMITTED,
    DISPLAY_LABELS,
    PRIORITY,
    RECORD_MIN_SUBMITTED,
    JudgeSuggestion,
    RecordContext,
    dialogue_quality_record,
    dialogue_quality_settings,
    in_overlap,
    preference_record,
    preference_settings,
    priority_property,
    source_label,
)
from annotation.server.embedded import SEARCH_ENGINE_NAME, EmbeddedArgilla
from charm_builder.store.workspace import Workspace
from charm_kernel.errors import CharmError
from charm_kernel.paths import write_private
from schemas import DIALOGUE_QUALITY_DIMENSIONS, Annotation, CandidateSet, Character, Dialogue, DialogueQualityItem

USERNAME_RE = re.compile(r"^(?!-|_)[a-z0-9-_]+$")
ROLES = ("annotator", "admin")
ProgressFn = Callable[[int, int], None]
#: Environment variables naming a remote Argilla (e.g. the docker-compose stack); see .env.example.
API_URL_ENV = "ARGILLA_API_URL"
API_KEY_ENV = "ARGILLA_API_KEY"


class AnnotationError(CharmError):
    """A user-facing annotation error (bad roster, server unreachable, missing dataset...)."""


# -- connection ---------------------------------------------------------------------------------------


def server_dir(workspace_root: Path) -> Path:
    """Where ``annotate serve`` keeps the embedded server's files inside a workspace."""
    return Path(workspace_root) / "argilla"


def connect(workspace_root: Path | None = None, api_url: str | None = None, api_key: str | None = None) -> Any:
    """An owner client: explicit url/key, else ``$ARGILLA_API_URL``/``$ARGILLA_API_KEY``, else the
    embedded server started by ``annotate serve`` in ``workspace_root``."""
    api_url = api_url or os.environ.get(API_URL_ENV)
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if (not api_url or not api_key) and workspace_root is not None:
        saved_url, saved_key = EmbeddedArgilla.saved_connection(server_dir(workspace_root))
        api_url, api_key = api_url or saved_url, api_key or saved_key
    if not api_url or not api_key:
        raise AnnotationError(
            "No Argilla server: start one with `charm-build annotate serve` (in another terminal) "
            "or set ARGILLA_API_URL and ARGILLA_API_KEY"
        )
    try:
        client = rg.Argilla(api_url=api_url, api_key=api_key, timeout=120)
        _ = client.me
    except Exception as exc:  # the SDK raises several exception types for "cannot reach / not allowed"
        raise AnnotationError(f"Cannot use the Argilla server at {api_url}: {type(exc).__name__}: {exc}") from None
    return client


# -- users ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterEntry:
    """One person of the annotation team."""

    username: str
    first_name: str | None = None
    last_name: str | None = None
    role: str = "annotator"


def load_roster(path: Path) -> list[RosterEntry]:
    """Read a roster: YAML/JSON (a list, or ``{annotators: [...]}``, of usernames or objects with
    ``username``, optional ``first_name``, ``last_name``, ``role``) or CSV with a ``username`` header
    (a ``.txt`` file: one username per line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: byte {exc.start}: not UTF-8 text") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read the roster ({exc.strerror})") from None
    rows: list[Any]
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        try:
            data = yaml.safe_load(text) if path.suffix.lower() != ".json" else json.loads(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise AnnotationError(
                f"{path}: not valid {path.suffix[1:].upper()}: {' '.join(str(exc).split())}"
            ) from None
        except RecursionError:
            raise AnnotationError(f"{path}: not valid {path.suffix[1:].upper()}: nested too deeply") from None
        rows = data.get("annotators", data.get("users")) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise AnnotationError(f"{path}: expected a list of annotators (or a mapping with 'annotators')")
    elif path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if rows and "username" not in rows[0]:
            raise AnnotationError(f"{path}: the CSV header needs a 'username' column")
    else:
        rows = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    entries: list[RosterEntry] = []
    seen: set[str] = set()
    for index, row in enumerate(rows, start=1):
        item = {"username": row} if isinstance(row, str) else row
        if not isinstance(item, dict) or not item.get("username"):
            raise AnnotationError(f"{path}: entry {index}: field 'username' is missing")
        username = str(item["username"]).strip()
        if not USERNAME_RE.match(username):
            raise AnnotationError(
                f"{path}: entry {index}: field 'username' {username!r} must be lowercase letters, digits, '-' or '_'"
            )
        role = str(item.get("role") or "annotator")
        if role not in ROLES:
            raise AnnotationError(f"{path}: entry {index}: field 'role' must be one of {', '.join(ROLES)}")
        if username in seen:
            raise AnnotationError(f"{path}: entry {index}: username {username!r} appears twice")
        seen.add(username)
        names = [item.get(f) or None for f in ("first_name", "last_name")]
        for key, value in zip(("first_name", "last_name"), names, strict=True):
            if value is not None and not isinstance(value, str | int):
                raise AnnotationError(f"{path}: entry {index}: field '{key}' must be text")
        first, last = (None if v is None else str(v) for v in names)
        entries.append(RosterEntry(username, first, last, role))
    if not entries:
        raise AnnotationError(f"{path}: the roster is empty")
    return entries


def _read_private_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise AnnotationError(f"{path}: not valid JSON ({exc}); fix or move it before creating users") from None


@dataclass
class UsersResult:
    """What :func:`create_users` did."""

    workspace: str
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    added_to_workspace: list[str] = field(default_factory=list)
    passwords_file: Path | None = None


def _quiet_lookup(lookup: Callable[..., Any], **kwargs: Any) -> Any:
    """``client.users(...)``/``workspaces``/``datasets`` without the SDK's "not found" warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return lookup(**kwargs)


def ensure_workspace(client: Any, name: str) -> Any:
    """The Argilla workspace ``name``, created when missing."""
    workspace = _quiet_lookup(client.workspaces, name=name)
    if workspace is None:
        workspace = rg.Workspace(name=name, client=client).create()
    return workspace


def create_users(client: Any, workspace_name: str, roster: list[RosterEntry], passwords_file: Path) -> UsersResult:
    """Create the workspace and one account per roster entry, and make everyone a member.

    New accounts get a random password, written once to ``passwords_file`` (mode 0600, JSON
    ``{username: password}``); existing accounts and stored passwords are never changed. Nothing
    secret is returned or printed.
    """
    workspace = ensure_workspace(client, workspace_name)
    stored = _read_private_json(passwords_file)
    result = UsersResult(workspace=workspace_name, passwords_file=passwords_file)
    members = {user.username for user in workspace.users}
    for entry in roster:
        user = _quiet_lookup(client.users, username=entry.username)
        if user is None:
            password = secrets.token_urlsafe(12)
            user = rg.User(
                username=entry.username,
                password=password,
                role=entry.role,
                first_name=entry.first_name or entry.username,
                last_name=entry.last_name,
                client=client,
            ).create()
            stored[entry.username] = password
            # after each user: a crash loses no password
            write_private(passwords_file, json.dumps(stored, indent=2, ensure_ascii=False) + "\n")
            result.created.append(entry.username)
        else:
            result.existing.append(entry.username)
        if entry.username not in members:
            user.add_to_workspace(workspace)
            result.added_to_workspace.append(entry.username)
    if passwords_file.exists():
        os.chmod(passwords_file, 0o600)
    return result


# -- push -------------------------------------------------------------------------------------------------


def ensure_dataset(client: Any, name: str, workspace: str, settings: Any) -> Any:
    """The dataset ``name`` in ``workspace``, created with ``settings`` when missing."""
    ensure_workspace(client, workspace)
    dataset = _quiet_lookup(client.datasets, name=name, workspace=workspace)
    if dataset is None:
        return rg.Dataset(name=name, workspace=workspace, settings=settings, client=client).create()
    have, want = [f.name for f in dataset.settings.fields], [f.name for f in settings.fields]
    if have != want:
        raise AnnotationError(
            f"Dataset {name!r} in Argilla workspace {workspace!r} has the fields {have}, but this version "
            f"writes {want}; push to a new dataset name (--dataset) or delete the old one"
        )
    return dataset


def get_dataset(client: Any, name: str, workspace: str) -> Any:
    """An existing dataset, or a clear error."""
    dataset = _quiet_lookup(client.datasets, name=name, workspace=workspace)
    if dataset is None:
        raise AnnotationError(f"Dataset {name!r} not found in Argilla workspace {workspace!r}; push first")
    return dataset


def existing_record_ids(dataset: Any) -> set[str]:
    """Ids of the records already in ``dataset``."""
    return {str(record.id) for record in dataset.records(with_responses=False, with_suggestions=False)}


def record_context(store: Workspace, cset: CandidateSet) -> RecordContext:
    """Dimension, character profile and language of a candidate set, from its dialogue and character."""
    dialogue = store.get(Dialogue, cset.dialogue_id)
    if dialogue is None:
        return RecordContext()
    character = store.get(Character, dialogue.character_id)
    profile = name = text = ""
    if character is not None:
        name, text = character.name.get(dialogue.language), character.profile.get(dialogue.language)
        profile = f"**{name}**\n\n{text}"
    return RecordContext(
        dimension=dialogue.target_dimension or "",
        character=profile,
        language=dialogue.language,
        character_name=name,
        profile=text,
    )


@dataclass
class PushResult:
    """What :func:`push_candidate_sets` did."""

    dataset: str
    workspace: str
    total: int
    pushed: int
    skipped_existing: int
    suggested: int = 0  # records carrying a judge's suggestions (new or updated)


def push_records(
    dataset: Any,
    records: list[Any],
    batch_size: int = 100,
    on_progress: ProgressFn | None = None,
    update: Callable[[Any], bool] | None = None,
) -> int:
    """Log ``records`` whose id is not on the server yet, in batches; returns how many were sent.

    ``update(record)`` -> True re-logs a record that is already there (an upsert: fields, metadata and
    suggestions are replaced, annotators' responses are kept)."""
    present = existing_record_ids(dataset)
    todo = [r for r in records if str(r.id) not in present or (update is not None and update(r))]
    done = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        dataset.records.log(batch, batch_size=len(batch))
        done += len(batch)
        if on_progress:
            on_progress(done, len(todo))
    return done


def server_honours_record_minimum(client: Any) -> bool:
    """Whether the server completes a record after its own ``min_submitted`` metadata (only the embedded
    server, whose launcher patches argilla-server for it; see ``annotate push --overlap``)."""
    try:
        reply = client.http_client.get("/api/v1/status")
        reply.raise_for_status()
        return (reply.json().get("search_engine") or {}).get("distribution") == SEARCH_ENGINE_NAME
    except Exception:  # an older or foreign server: assume the stock behaviour
        return False


def _check_overlap_dataset(client: Any, ds: Any, name: str, overlap: float) -> None:
    """``--overlap`` needs the embedded server and a dataset created with it (and the other way round)."""
    has_property = any(p.name == RECORD_MIN_SUBMITTED for p in ds.settings.metadata)
    if overlap < 1.0 and not has_property:
        raise AnnotationError(
            f"Dataset {name!r} was created without --overlap; push to a new dataset name (--dataset) to use it"
        )
    if overlap >= 1.0 and has_property:
        raise AnnotationError(f"Dataset {name!r} was created with --overlap; pass the same --overlap again")
    if overlap < 1.0 and not server_honours_record_minimum(client):
        raise AnnotationError(
            "--overlap needs the `charm-build annotate serve` server (stock Argilla has one annotator count "
            "per dataset); use --min-submitted alone with this server"
        )


def ensure_priority_property(client: Any, ds: Any, name: str, workspace: str) -> Any:
    """``ds`` with the :data:`~annotation.datasets.PRIORITY` metadata property, added to a dataset created
    without it (records and responses stay as they are); returns the dataset as the server now has it."""
    if any(p.name == PRIORITY for p in ds.settings.metadata):
        return ds
    prop = priority_property()
    prop.dataset = ds
    try:
        prop.create()
    except Exception as exc:  # the SDK raises several error types for a refused settings change
        raise AnnotationError(
            f"Dataset {name!r}: cannot add the {PRIORITY!r} metadata property ({type(exc).__name__}: {exc})"
        ) from None
    return get_dataset(client, name, workspace)


def clear_stale_priorities(ds: Any, keep: Iterable[str]) -> int:
    """Remove the ``priority`` metadata from records of ``ds`` outside ``keep`` (a newer ranking replaces an
    older one: a set left out of it must not stay ahead of the queue). Fields and other metadata are re-sent
    as they are; responses and suggestions stay. Returns how many records changed."""
    kept = set(keep)
    stale = [
        rg.Record(
            id=record.id,
            fields=dict(record.fields),
            metadata={key: value for key, value in record.metadata.items() if key != PRIORITY},
        )
        for record in ds.records(with_responses=False, with_suggestions=False)
        if record.metadata.get(PRIORITY) is not None and str(record.id) not in kept
    ]
    for start in range(0, len(stale), 100):
        ds.records.log(stale[start : start + 100], batch_size=100)
    return len(stale)


def push_candidate_sets(
    client: Any,
    store: Workspace,
    *,
    dataset: str,
    workspace: str,
    min_submitted: int = DEFAULT_MIN_SUBMITTED,
    candidate_sets: Iterable[CandidateSet] | None = None,
    batch_size: int = 100,
    on_progress: ProgressFn | None = None,
    suggestions: Mapping[str, JudgeSuggestion] | None = None,
    overlap: float = 1.0,
    priorities: Mapping[str, int] | None = None,
) -> PushResult:
    """Create the preference dataset if needed and push every candidate set not already there.

    ``suggestions`` (candidate set id -> judge pick) pre-select the judge's best/worst; records already
    on the server that have one are updated in place (their responses are kept). ``overlap`` < 1: one
    annotator per record, except a fixed share ``overlap`` of them that need ``min_submitted``
    (:func:`annotation.datasets.in_overlap`). ``priorities`` (candidate set id -> rank, 1 = first; from
    ``annotate next``) go into the ``priority`` metadata (the property is added to an older dataset),
    records already there get theirs too, and records ranked by an earlier run but not by this one lose
    theirs; pass ``candidate_sets`` in rank order to log them in that order."""
    sets = list(candidate_sets) if candidate_sets is not None else list(store.iter(CandidateSet))
    ranks = priorities or {}
    settings = preference_settings(min_submitted, overlap=overlap, priority=bool(ranks))
    ds = ensure_dataset(client, dataset, workspace, settings)
    _check_overlap_dataset(client, ds, dataset, overlap)
    if ranks:
        ds = ensure_priority_property(client, ds, dataset, workspace)
        clear_stale_priorities(ds, ranks)
    picks = suggestions or {}

    def needed(cset: CandidateSet) -> int | None:
        if overlap >= 1.0:
            return None
        return min_submitted if in_overlap(cset.id, overlap) else 1

    records = [
        preference_record(cset, record_context(store, cset), picks.get(cset.id), needed(cset), ranks.get(cset.id))
        for cset in sets
    ]
    pushed = push_records(
        ds, records, batch_size, on_progress, update=lambda r: str(r.id) in picks or str(r.id) in ranks
    )
    suggested = sum(cset.id in picks for cset in sets)
    return PushResult(dataset, workspace, len(records), pushed, len(records) - pushed, suggested)


def push_dialogue_quality(
    client: Any,
    store: Workspace,
    *,
    dataset: str,
    workspace: str,
    dimensions: Iterable[str],
    language: str | None = None,
    min_submitted: int = 1,
    batch_size: int = 100,
    on_progress: ProgressFn | None = None,
) -> PushResult:
    """Push one authoring record per (dialogue, dimension) to a dialogueQuality dataset."""
    ds = ensure_dataset(client, dataset, workspace, dialogue_quality_settings(min_submitted))
    records = []
    for dialogue in store.iter(Dialogue):
        if language and dialogue.language != language:
            continue
        character = store.get(Character, dialogue.character_id)
        profile = character.profile.get(dialogue.language) if character else ""
        for dim in dimensions:
            ctx = RecordContext(dimension=dim, character=profile, language=dialogue.language)
            records.append(dialogue_quality_record(f"{dialogue.id}:{dim}", dialogue.turns, dim, ctx))
    pushed = push_records(ds, records, batch_size, on_progress)
    return PushResult(dataset, workspace, len(records), pushed, len(records) - pushed)


# -- pull -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedResponse:
    """A submitted response that cannot be used (best == worst, or an unknown label)."""

    record_id: str
    annotator: str
    best: str | None
    worst: str | None
    reason: str


@dataclass
class PullResult:
    """What :func:`pull_annotations` did."""

    dataset: str
    imported: int = 0
    rejected: list[RejectedResponse] = field(default_factory=list)
    skipped_not_submitted: int = 0


def responses_to_annotations(
    records: Iterable[dict[str, Any]], usernames: dict[str, str]
) -> tuple[list[Annotation], list[RejectedResponse], int]:
    """Turn pulled records into annotations (pure; used by :func:`pull_annotations`).

    Each record is ``{"id", "metadata", "responses": [{"user_id", "status", "values": {question: value}}]}``.
    Labels are mapped from what the annotator saw back to the candidate set's own labels.
    Returns ``(annotations, rejected, skipped_not_submitted)``.
    """
    annotations: list[Annotation] = []
    rejected: list[RejectedResponse] = []
    skipped = 0
    for record in records:
        metadata = record.get("metadata") or {}
        cset_id = metadata.get("candidate_set_id") or str(record["id"])
        for response in record.get("responses", []):
            annotator = usernames.get(str(response["user_id"]), str(response["user_id"]))
            if response.get("status") != "submitted":
                skipped += 1
                continue
            values = response.get("values") or {}
            best, worst = values.get("best"), values.get("worst")
            if best is None or worst is None or best not in DISPLAY_LABELS or worst not in DISPLAY_LABELS:
                rejected.append(RejectedResponse(str(record["id"]), annotator, best, worst, "best or worst missing"))
                continue
            if best == worst:
                rejected.append(RejectedResponse(str(record["id"]), annotator, best, worst, "best == worst"))
                continue
            src_best, src_worst = source_label(metadata, best), source_label(metadata, worst)
            if src_best is None or src_worst is None:
                reason = f"label {best if src_best is None else worst} has no candidate"
                rejected.append(RejectedResponse(str(record["id"]), annotator, best, worst, reason))
                continue
            notes = {
                name.removeprefix("note_"): str(text)
                for name, text in values.items()
                if name.startswith("note_") and text not in (None, "")
            }
            annotations.append(
                Annotation(
                    candidate_set_id=cset_id,
                    annotator=annotator,
                    best=src_best,
                    worst=src_worst,
                    dimension_notes=notes,
                )
            )
    return annotations, rejected, skipped


def fetch_records_with_responses(dataset: Any) -> list[dict[str, Any]]:
    """Records of ``dataset`` that have responses, as plain dicts for :func:`responses_to_annotations`."""
    out = []
    for record in dataset.records(with_responses=True, with_suggestions=False):
        grouped: dict[str, dict[str, Any]] = {}
        for response in record.responses:
            entry = grouped.setdefault(str(response.user_id), {"user_id": str(response.user_id), "values": {}})
            entry["values"][response.question_name] = response.value
            entry["status"] = str(getattr(response.status, "value", response.status))
        if grouped:
            out.append({"id": str(record.id), "metadata": dict(record.metadata), "responses": list(grouped.values())})
    return out


def pull_annotations(
    client: Any, store: Workspace, *, dataset: str, workspace: str, rejected_file: Path | None = None
) -> PullResult:
    """Store every submitted best/worst response as an :class:`Annotation`; report rejected ones.

    The rejected list (no secrets: record id, annotator name, labels, reason) is written as JSON to
    ``rejected_file`` when given.
    """
    ds = get_dataset(client, dataset, workspace)
    usernames = {str(user.id): user.username for user in client.users}
    annotations, rejected, skipped = responses_to_annotations(fetch_records_with_responses(ds), usernames)
    store.upsert_many(annotations)
    if rejected_file is not None:
        rejected_file.parent.mkdir(parents=True, exist_ok=True)
        rejected_file.write_text(json.dumps([asdict(r) for r in rejected], indent=2, ensure_ascii=False) + "\n")
    return PullResult(dataset, len(annotations), rejected, skipped)


def pull_dialogue_quality(
    client: Any, store: Workspace, *, dataset: str, workspace: str
) -> tuple[list[tuple[DialogueQualityItem, str]], list[RejectedResponse]]:
    """Submitted dialogueQuality answers as (:class:`DialogueQualityItem`, annotator) pairs (criteria: one per
    non-empty line).

    Answers whose dialogue is no longer in the store, or with an empty query/criteria, are rejected.
    """
    ds = get_dataset(client, dataset, workspace)
    usernames = {str(user.id): user.username for user in client.users}
    items: list[tuple[DialogueQualityItem, str]] = []
    rejected: list[RejectedResponse] = []
    for record in fetch_records_with_responses(ds):
        dialogue_id, _, dimension = record["id"].rpartition(":")
        dialogue = store.get(Dialogue, dialogue_id)
        for response in record["responses"]:
            if response.get("status") != "submitted":
                continue
            annotator = usernames.get(response["user_id"], response["user_id"])
            query = str(response["values"].get("user_query") or "").strip()
            criteria = [line.strip(" -*\t") for line in str(response["values"].get("criteria") or "").splitlines()]
            criteria = [c for c in criteria if c]
            reason = None
            if dialogue is None:
                reason = f"dialogue {dialogue_id} not in the workspace"
            elif dimension not in DIALOGUE_QUALITY_DIMENSIONS:
                reason = f"unknown dimension {dimension!r}"
            elif not query or not criteria:
                reason = "empty user query or criteria"
            if reason or dialogue is None:
                rejected.append(RejectedResponse(record["id"], annotator, None, None, reason or "unknown"))
                continue
            items.append(
                (
                    DialogueQualityItem(
                        dialogue_id=dialogue.id,
                        character_id=dialogue.character_id,
                        context=dialogue.turns,
                        user_query=query,
                        dimension=dimension,
                        criteria=criteria,
                        language=dialogue.language,
                    ),
                    annotator,
                )
            )
    return items, rejected


# -- progress ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorProgress:
    """One annotator's response counts on a dataset."""

    username: str
    submitted: int
    draft: int
    discarded: int

    @property
    def total(self) -> int:
        """All responses of this annotator."""
        return self.submitted + self.draft + self.discarded


def annotator_progress(client: Any, *, dataset: str, workspace: str) -> tuple[dict[str, int], list[AnnotatorProgress]]:
    """Dataset totals (``total``, ``completed``, ``pending``) and per-annotator response counts."""
    ds = get_dataset(client, dataset, workspace)
    progress = ds.progress(with_users_distribution=True)
    rows = []
    for username, buckets in sorted((progress.get("users") or {}).items()):
        counts = {status: 0 for status in ("submitted", "draft", "discarded")}
        for bucket in buckets.values():
            for status in counts:
                counts[status] += int(bucket.get(status, 0))
        rows.append(AnnotatorProgress(username, counts["submitted"], counts["draft"], counts["discarded"]))
    totals = {key: int(progress.get(key, 0)) for key in ("total", "completed", "pending")}
    return totals, rows
