"""LLMStore without a database: a bounded least-recently-used cache; batch records kept apart."""

from __future__ import annotations

from charm_builder.llm.cache import LLMStore
from charm_builder.llm.types import Completion


def test_memory_cache_keeps_the_most_recently_used_entries() -> None:
    store = LLMStore(None, memory_limit=3)
    for k in "abc":
        store.put(k, "m", Completion(text=k))
    assert store.get("a").text == "a"  # a is now the most recently used
    store.put("d", "m", Completion(text="d"))  # evicts b, the least recently used
    assert store.get("b") is None
    assert [store.get(k).text for k in "acd"] == ["a", "c", "d"]


def test_batch_records_do_not_count_against_the_cache_limit() -> None:
    store = LLMStore(None, memory_limit=1)
    store.save_batch("batch-1", "job", "openai", "gpt", "submitted", 2, {"requests": []})
    for k in "xyz":
        store.put(k, "m", Completion(text=k))
    assert store.get_batch("batch-1")["state"] == "submitted"
    assert [b["batch_id"] for b in store.find_batches("job")] == ["batch-1"]
    assert store.get("x") is None and store.get("z").text == "z"
