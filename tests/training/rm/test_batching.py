"""Micro-batches keep a candidate set's pairs together (export --pairs maxdiff) and cover every pair."""

from __future__ import annotations

import pytest

from training.rm.batching import epoch_batches, pack_groups
from training.rm.sources import set_group


def _sets(n_sets: int, per_set: int) -> list[str | None]:
    return [f"s{i}" for i in range(n_sets) for _ in range(per_set)]


@pytest.mark.parametrize(("n_sets", "per_set", "batch"), [(7, 9, 4), (11, 9, 18), (5, 3, 4), (6, 2, 5), (4, 9, 9)])
def test_sets_stay_together_and_batch_size_bounds_every_micro_batch(n_sets: int, per_set: int, batch: int) -> None:
    groups = _sets(n_sets, per_set)
    for epoch in range(3):
        batches = epoch_batches(len(groups), batch, seed=1, epoch=epoch, groups=groups)
        assert sorted(i for b in batches for i in b) == list(range(len(groups)))  # each pair once
        assert all(0 < len(b) <= batch for b in batches)  # --batch-size bounds memory
        homes: dict[str, list[int]] = {}
        for k, b in enumerate(batches):
            for i in b:
                if k not in homes.setdefault(groups[i], []):
                    homes[groups[i]].append(k)
        for set_id, ks in homes.items():
            # a set that fits is in one micro-batch; a larger one fills consecutive micro-batches
            assert ks == list(range(ks[0], ks[0] + len(ks))), set_id
            assert len(ks) == (1 if per_set <= batch else -(-per_set // batch))


def test_one_pair_per_set_batches_like_the_plain_shuffle() -> None:
    n = 23
    plain = epoch_batches(n, 4, seed=5, epoch=2)
    assert epoch_batches(n, 4, seed=5, epoch=2, groups=[f"s{i}" for i in range(n)]) == plain
    assert epoch_batches(n, 4, seed=5, epoch=2, groups=[None] * n) == plain


def test_sets_are_shuffled_by_epoch_and_reproducible() -> None:
    groups = _sets(12, 9)
    a = epoch_batches(len(groups), 9, seed=0, epoch=0, groups=groups)
    assert a == epoch_batches(len(groups), 9, seed=0, epoch=0, groups=groups)
    assert a != epoch_batches(len(groups), 9, seed=0, epoch=1, groups=groups)


def test_pairs_without_a_set_mix_with_sets() -> None:
    groups: list[str | None] = [*_sets(3, 9), None, None, None]
    batches = epoch_batches(len(groups), 9, seed=2, epoch=0, groups=groups)
    assert sorted(i for b in batches for i in b) == list(range(30))
    assert all(len({groups[i] for i in b if groups[i]}) == 1 for b in batches if len(b) == 9)


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_take_whole_sets_and_the_same_number_of_batches(world: int) -> None:
    groups = _sets(7, 9)
    shards = [epoch_batches(len(groups), 9, seed=4, epoch=0, rank=r, world=world, groups=groups) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    seen = [i for s in shards for b in s for i in b]
    assert set(seen) == set(range(len(groups)))
    padded = len(seen) - len(groups)  # a rank without a set in the last global batch repeats one pair
    assert padded == (-7) % world
    for s in shards:
        for b in s:
            if len(b) > 1:
                assert len({groups[i] for i in b}) == 1


def test_pack_groups_fills_in_order() -> None:
    assert pack_groups([[0, 1], [2], [3, 4, 5], [6]], 3) == [[0, 1, 2], [3, 4, 5], [6]]
    # a group larger than the batch starts afresh and fills consecutive batches; the next group may join its tail
    assert pack_groups([[0], [1, 2, 3, 4, 5], [6]], 2) == [[0], [1, 2], [3, 4], [5, 6]]


def test_groups_must_match_the_pairs() -> None:
    with pytest.raises(ValueError, match="3 entries for 4 pairs"):
        epoch_batches(4, 2, seed=0, epoch=0, groups=["a", "a", "b"])


def test_set_group_is_keyed_by_source() -> None:
    assert set_group(0, {"candidate_set_id": "cs1"}) != set_group(1, {"candidate_set_id": "cs1"})
    assert set_group(0, {"prompt": "p"}) is None and set_group(0, {"candidate_set_id": ""}) is None
