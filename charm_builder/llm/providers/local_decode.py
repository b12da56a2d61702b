"""Batched generation for the local provider: shared-prefix prefill, then one forward pass per
step for every row, each row sampled with its own settings.

Rows sharing a long prompt prefix prefill it once; finished rows leave the cache once a quarter of
the batch has finished. How, and where logits differ from decoding a row alone (sliding-window
layers): docs/design.md#local-batched-generation.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from charm_builder.llm.providers.base import RawCompletion
from charm_builder.llm.types import ChatParams

DEFAULT_MAX_NEW_TOKENS = 128
MIN_SHARED_PREFIX = 32
"""Rows share a prefill only when their prompts agree on at least this many leading tokens."""

_CACHE_KWARG = ""


@dataclass
class Row:
    """One request inside a batch: its prompt, params and what it generated so far."""

    prompt: list[int]
    params: ChatParams
    max_new: int
    generator: Any
    new: list[int] = field(default_factory=list)
    done: bool = False
    stopped: bool = False  # ended on EOS or a stop string (else: ran out of tokens)


def cache_kwarg() -> str:
    """transformers 5.x names the KV-cache argument ``cache`` (older: ``past_key_values``)."""
    global _CACHE_KWARG
    if not _CACHE_KWARG:
        from transformers import LlamaForCausalLM

        params = inspect.signature(LlamaForCausalLM.forward).parameters
        _CACHE_KWARG = "cache" if "cache" in params else "past_key_values"
    return _CACHE_KWARG


# -- prefill ------------------------------------------------------------------------------------
def _common_len(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def group_by_prefix(prompts: list[list[int]]) -> list[tuple[int, list[int]]]:
    """``[(shared prefix length, row indices)]``: rows whose prompts share a long prefix.

    Prompts are sorted so that rows with a common prefix are neighbours; a row joins the group
    before it when they share at least ``MIN_SHARED_PREFIX`` tokens and shortening the group's
    prefix to that costs its members fewer tokens than the row saves. A prefix always leaves
    each row at least one token of its own (pass 2 gives the first logits). When the padding of
    the two passes would cost more than it saves (a short shared prefix among long prompts), every
    row is its own group: one padded pass over whole prompts, as without sharing.
    """
    groups: list[tuple[int, list[int]]] = []
    for i in sorted(range(len(prompts)), key=lambda k: prompts[k]):
        if groups:
            common, members = groups[-1]
            n = _common_len(prompts[members[0]][:common], prompts[i])
            if n >= MIN_SHARED_PREFIX and (common - n) * len(members) <= n:
                groups[-1] = (n, [*members, i])
                continue
        groups.append((len(prompts[i]), [i]))
    shared = [(min(n, *(len(prompts[i]) - 1 for i in members)), members) for n, members in groups]
    alone = [(len(p) - 1, [i]) for i, p in enumerate(prompts)]
    return shared if padded_tokens(prompts, shared) < padded_tokens(prompts, alone) else alone


def padded_tokens(prompts: list[list[int]], groups: list[tuple[int, list[int]]]) -> int:
    """Token positions the two prefill passes compute for a grouping, padding included (pass 1: one
    row per group as wide as the longest prefix; pass 2: every row as wide as the longest suffix)."""
    prefix = max(n for n, _ in groups)
    suffix = max(len(prompts[i]) - n for n, members in groups for i in members)
    return len(groups) * prefix + len(prompts) * suffix


def _left_pad(seqs: list[list[int]], pad: int) -> tuple[Any, Any]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
    return ids, mask


def prefill(model: Any, prompts: list[list[int]], pad: int) -> tuple[Any, Any, Any]:
    """Run the prompts through the model: ``(output with the last logits and the cache,
    attention mask, position of each row's last token)``."""
    import torch

    kw = cache_kwarg()
    groups = group_by_prefix(prompts)
    row_group = [0] * len(prompts)
    prefix_len = [0] * len(prompts)
    for g, (n, members) in enumerate(groups):
        for i in members:
            row_group[i], prefix_len[i] = g, n
    cache_arg: dict[str, Any] = {}
    mask1 = torch.zeros((len(prompts), 0), dtype=torch.long)
    if any(n for n, _ in groups):  # pass 1: each group's shared prefix, once
        ids1, gmask = _left_pad([prompts[members[0]][:n] for n, members in groups], pad)
        out = model(
            input_ids=ids1,
            attention_mask=gmask,
            position_ids=(gmask.cumsum(-1) - 1).clamp(min=0),
            use_cache=True,
            logits_to_keep=1,
        )
        index = torch.tensor(row_group)
        cache = getattr(out, kw)
        cache.batch_select_indices(index)  # one copy of its group's prefix per row
        cache_arg = {kw: cache}
        mask1 = gmask[index]
    ids2, mask2 = _left_pad([p[n:] for p, n in zip(prompts, prefix_len, strict=True)], pad)
    positions = torch.tensor(prefix_len)[:, None] + (mask2.cumsum(-1) - 1).clamp(min=0)
    mask = torch.cat([mask1, mask2], dim=1)
    out = model(
        input_ids=ids2, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1, **cache_arg
    )
    return out, mask, positions[:, -1:]


# -- sampling -----------------------------------------------------------------------------------
def banned_by_ngrams(new: list[int], n: int) -> list[int]:
    """Tokens that would repeat an ``n``-gram already in ``new`` (HF's no_repeat_ngram_size)."""
    if not n or len(new) < n:
        return []
    prefix = tuple(new[len(new) - n + 1 :]) if n > 1 else ()
    return [new[i + n - 1] for i in range(len(new) - n + 1) if tuple(new[i : i + n - 1]) == prefix]


NUCLEUS_TOP_K = 1024
"""Top-p looks at the most likely tokens first; the full vocabulary is sorted only for a row whose
nucleus is larger (Gemma's vocabulary has 262k tokens: a full sort per step costs more than the
forward pass)."""


def nucleus(probs: Any, top_p: Any) -> tuple[Any, Any]:
    """The smallest set of most likely tokens whose mass reaches ``top_p``, per row: ``(weights,
    token ids)``, weights zero outside the set (the top token is always in it)."""
    import torch

    weights, ids = torch.topk(probs, min(NUCLEUS_TOP_K, probs.shape[-1]), dim=-1)
    if bool((weights.sum(-1, keepdim=True) < top_p).any()):
        weights, ids = torch.sort(probs, descending=True, dim=-1)
    keep = torch.cumsum(weights, dim=-1) - weights < top_p
    return weights * keep, ids


class Sampler:
    """Per-row penalties and sampling as batch tensor operations.

    Rows keep their own repetition penalty (over prompt and reply tokens, HF convention),
    frequency/presence penalties (over the reply), no-repeat n-gram size, temperature (0 or None
    = greedy), top-p and seeded generator. ``select`` follows the batch when rows are dropped.
    """

    def __init__(self, rows: list[Row], vocab: int) -> None:
        import torch

        p = [r.params for r in rows]
        self.rep = torch.tensor([x.repetition_penalty or 1.0 for x in p])[:, None]
        self.freq = torch.tensor([x.frequency_penalty or 0.0 for x in p])[:, None]
        self.pres = torch.tensor([x.presence_penalty or 0.0 for x in p])[:, None]
        self.temp = torch.tensor([x.temperature or 0.0 for x in p])
        self.top_p = torch.tensor([x.top_p or 1.0 for x in p])[:, None]
        self.seen = None
        if bool((self.rep != 1.0).any()):
            self.seen = torch.zeros((len(rows), vocab), dtype=torch.bool)
            for i, r in enumerate(rows):
                self.seen[i, torch.tensor(r.prompt)] = True
        self.counts = None
        if bool((self.freq != 0).any() or (self.pres != 0).any()):
            self.counts = torch.zeros((len(rows), vocab))

    def select(self, index: Any) -> None:
        for name in ("rep", "freq", "pres", "temp", "top_p", "seen", "counts"):
            if (value := getattr(self, name)) is not None:
                setattr(self, name, value[index])

    def pick(self, logits: Any, rows: list[Row]) -> list[int]:
        """The next token of every row (rows already done get an arbitrary one)."""
        import torch

        scores = logits
        if self.seen is not None:
            penalised = torch.where(scores < 0, scores * self.rep, scores / self.rep)
            scores = torch.where(self.seen, penalised, scores)
        if self.counts is not None:
            scores = scores - self.counts * self.freq - (self.counts > 0).to(scores.dtype) * self.pres
        for k, r in enumerate(rows):
            if not r.done and (banned := banned_by_ngrams(r.new, r.params.no_repeat_ngram_size or 0)):
                scores[k, banned] = float("-inf")
        tokens = scores.argmax(-1)
        sampled = [k for k, r in enumerate(rows) if not r.done and self.temp[k] > 0]
        if not sampled:
            return tokens.tolist()
        index = torch.tensor(sampled)
        probs = torch.softmax(scores[index] / self.temp[index, None], dim=-1)
        top_p = self.top_p[index]
        cut = {j: c for c, j in enumerate(j for j in range(len(sampled)) if top_p[j] < 1.0)}  # row -> nucleus row
        if cut:
            weights, ids = nucleus(probs[list(cut)], top_p[list(cut)])
        for j, k in enumerate(sampled):
            if j in cut:
                c = cut[j]
                tokens[k] = ids[c, torch.multinomial(weights[c], 1, generator=rows[k].generator)[0]]
            else:
                tokens[k] = torch.multinomial(probs[j], 1, generator=rows[k].generator)[0]
        return tokens.tolist()

    def record(self, appended: list[tuple[int, int]]) -> None:
        """Count the tokens just added to replies: ``[(row position in the batch, token)]``."""
        import torch

        if not appended or (self.seen is None and self.counts is None):
            return
        index, picked = torch.tensor([k for k, _ in appended]), torch.tensor([t for _, t in appended])
        if self.seen is not None:
            self.seen[index, picked] = True
        if self.counts is not None:
            self.counts[index, picked] += 1


# -- the loop -----------------------------------------------------------------------------------
def _hit_stop(text: str, stops: list[str] | None) -> bool:
    return bool(stops) and any(s in text for s in stops or [])


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
    return {int(i) for i in ids if i is not None}


def generate(model: Any, tokenizer: Any, requests: list[tuple[list[dict[str, str]], ChatParams]]) -> list[Row]:
    """Decode several chats together; returns their rows (prompt, generated ids, how they ended)."""
    import torch

    kw = cache_kwarg()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = eos_ids(model, tokenizer)
    rows = []
    for messages, params in requests:
        enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        if not enc["input_ids"]:
            raise ValueError("the chat template rendered an empty prompt")
        gen = torch.Generator().manual_seed(params.seed if params.seed is not None else 0)
        rows.append(Row(list(enc["input_ids"]), params, params.max_tokens or DEFAULT_MAX_NEW_TOKENS, gen))
    with torch.inference_mode():
        out, mask, positions = prefill(model, [r.prompt for r in rows], pad)
        live = rows  # the rows in the cache, in cache order
        sampler = Sampler(rows, out.logits.shape[-1])
        for _step in range(max(r.max_new for r in rows)):
            tokens = sampler.pick(out.logits[:, -1, :].float(), live)
            appended = []
            for k, (r, token) in enumerate(zip(live, tokens, strict=True)):
                if r.done:
                    continue
                if token in eos:
                    r.done = r.stopped = True
                    continue
                r.new.append(token)
                appended.append((k, token))
                if r.params.stop and _hit_stop(tokenizer.decode(r.new, skip_special_tokens=True), r.params.stop):
                    r.done = r.stopped = True
                elif len(r.new) >= r.max_new:
                    r.done = True
            sampler.record(appended)
            if all(r.done for r in live):
                break
            cache = getattr(out, kw)
            if sum(r.done for r in live) * 4 >= len(live):  # drop finished rows from the cache
                keep = [k for k, r in enumerate(live) if not r.done]
                index = torch.tensor(keep)
                cache.batch_select_indices(index)
                live, tokens = [live[k] for k in keep], [tokens[k] for k in keep]
                mask, positions = mask[index], positions[index]
                sampler.select(index)
            mask = torch.cat([mask, torch.ones((len(live), 1), dtype=torch.long)], dim=1)
            positions = positions + 1
            out = model(
                input_ids=torch.tensor(tokens).unsqueeze(1),
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{kw: cache},
            )
    return rows


def completion(row: Row, text: str) -> RawCompletion:
    """A finished row as the provider's answer (``text`` already cleaned by the caller)."""
    n_out = len(row.new) + (1 if row.stopped and len(row.new) < row.max_new else 0)  # the EOS token counts
    return RawCompletion(
        text=text,
        input_tokens=len(row.prompt),
        output_tokens=n_out,
        finish_reason="stop" if row.stopped else "length",
    )
