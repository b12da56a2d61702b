"""`charm-train rm`'s data loading on an export, without training: read and check the preferenceTraining
pairs, tokenise them with the backbone's tokenizer and collate one epoch of batches.

    python -m benchmarks.paper_scale.rm_data EXPORT [--model offline] [--batch-size 4] [--max-length 1024]

Prints one JSON line: pairs, batches, tokens, seconds.
"""

from __future__ import annotations

import argparse
import json
import time


def load_one_epoch(export: str, model: str = "offline", batch_size: int = 4, max_length: int = 1024) -> dict:
    """What ``RewardModelTrainer`` does with its data before the first step, then one epoch of batches."""
    from transformers import AutoTokenizer

    from training.rm.batching import epoch_batches
    from training.rm.data import collate_pairs, encode_preference_rows
    from training.rm.sources import load_preference_data
    from training.rm.trainer import resolve_model_path

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    data = load_preference_data([export], "train")
    pairs = encode_preference_rows(
        data.rows, tokenizer, max_length, ", ".join(s.name for s in data.sources), row_names=data.row_names
    )
    batches = tokens = 0
    for chunk in epoch_batches(len(pairs), batch_size, seed=0, epoch=0):
        batch = collate_pairs([pairs[i] for i in chunk], pad)
        batches += 1
        tokens += int(batch["attention_mask"].sum())
    return {"pairs": len(pairs), "batches": batches, "tokens": tokens, "seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export", help="an export root or its preferenceTraining folder")
    ap.add_argument("--model", default="offline", help="backbone whose tokenizer encodes the pairs")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=1024)
    ns = ap.parse_args()
    print(json.dumps(load_one_epoch(ns.export, ns.model, ns.batch_size, ns.max_length)))


if __name__ == "__main__":
    main()
