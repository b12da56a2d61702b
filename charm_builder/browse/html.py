"""`charm-build preview`: one self-contained HTML page to browse dialogues, candidates, votes and scores.

No CDN, fonts or scripts from elsewhere: inline CSS and a few lines of vanilla JS (list, filter).
Every piece of workspace text goes through ``esc`` (``html.escape``), so a reply containing markup
shows as text. Candidate table columns are a list of ``Column``; judge scores become extra columns.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from charm_builder.browse.view import CandidateSetView, CandidateView, DialogueView


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Column:
    """One column of a candidate table: header text and a function giving the cell's (escaped) HTML."""

    header: str
    cell: Callable[[CandidateView], str]
    css: str = ""


def _votes_cell(n: int, total: int, kind: str) -> str:
    width = round(100 * n / total) if total else 0
    return f'<span class="bar {kind}" style="width:{width}%"></span><span class="n">{n}</span>'


def _flags_cell(c: CandidateView) -> str:
    return "".join(f'<span class="chip warn">{esc(f)}</span>' for f in c.flags)


def columns(cset: CandidateSetView, reveal: bool) -> list[Column]:
    """The candidate table's columns: label, [model], reply, best, worst, one per judge score, flags."""
    total = cset.submitted
    cols = [Column("", lambda c: f"<b>{esc(c.label)}</b>", "label")]
    if reveal:
        cols.append(Column("Model", lambda c: f"<code>{esc(c.model_id)}</code>", "model"))
    cols += [
        Column("Reply", lambda c: f'<div class="reply">{esc(c.text)}</div>', "text"),
        Column("Best", lambda c: _votes_cell(c.best_votes, total, "best"), "num"),
        Column("Worst", lambda c: _votes_cell(c.worst_votes, total, "worst"), "num"),
    ]
    for name in cset.score_names:
        cols.append(Column(name, lambda c, n=name: esc(f"{c.scores[n]:g}") if n in c.scores else "–", "num score"))
    cols.append(Column("Flags", _flags_cell, "flags"))
    return cols


def _candidate_table(cset: CandidateSetView, reveal: bool) -> str:
    cols = columns(cset, reveal)
    top_best = max((c.best_votes for c in cset.candidates), default=0)
    top_worst = max((c.worst_votes for c in cset.candidates), default=0)
    head = "".join(f'<th class="{c.css}">{esc(c.header)}</th>' for c in cols)
    rows = []
    for cand in cset.candidates:
        cls = " ".join(
            k
            for k, hit in (
                ("top-best", top_best and cand.best_votes == top_best),
                ("top-worst", top_worst and cand.worst_votes == top_worst),
            )
            if hit
        )
        cells = "".join(f'<td class="{c.css}">{c.cell(cand)}</td>' for c in cols)
        rows.append(f'<tr class="{cls}" data-label="{esc(cand.label)}">{cells}</tr>')
    return f'<table class="cands"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _votes(cset: CandidateSetView) -> str:
    if not cset.votes:
        return '<p class="muted">No annotations yet.</p>'
    items = "".join(
        f'<li class="{esc(v.status)}"><b>{esc(v.annotator)}</b> best <b>{esc(v.best or "–")}</b>'
        f" · worst <b>{esc(v.worst or '–')}</b>{'' if v.status == 'submitted' else f' <i>({esc(v.status)})</i>'}</li>"
        for v in cset.votes
    )
    return f'<ul class="votes">{items}</ul>'


def _turns(view: DialogueView) -> str:
    out = []
    for i, t in enumerate(view.dialogue.turns, 1):
        out.append(
            f'<div class="turn {esc(t.role)}"><div class="who">{i} · {esc(t.speaker or t.role)}</div>'
            f'<div class="say">{esc(t.text)}</div></div>'
        )
    return "".join(out)


def _setting(view: DialogueView) -> str:
    rows = []
    if view.scene_title or view.scene_description:
        rows.append(f"<dt>Scene</dt><dd><b>{esc(view.scene_title)}</b> {esc(view.scene_description)}</dd>")
    if view.persona_name or view.persona_prompt:
        rows.append(f"<dt>User persona</dt><dd><b>{esc(view.persona_name)}</b> {esc(view.persona_prompt)}</dd>")
    if view.character_profile:
        rows.append(
            f"<dt>Character</dt><dd><details><summary>{esc(view.character_name)} — profile</summary>"
            f"<p>{esc(view.character_profile)}</p></details></dd>"
        )
    return f'<dl class="setting">{"".join(rows)}</dl>'


def _flags(view: DialogueView) -> str:
    if not view.flags:
        return '<p class="muted">No cleaning flags.</p>'
    return '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in view.flags) + "</ul>"


def _badges(view: DialogueView) -> str:
    d = view.dialogue
    parts = [
        ("lang", d.language),
        ("dim", d.target_dimension or "no dimension"),
        ("", view.character_category),
        ("", d.provenance.source),
        ("", f"{len(d.turns)} turns"),
    ]
    return "".join(f'<span class="chip {k}">{esc(v)}</span>' for k, v in parts if v)


def dialogue_section(view: DialogueView, reveal: bool = False) -> str:
    """One dialogue as an HTML <section> (id = dialogue id)."""
    sets = (
        "".join(
            f"<h3>Candidates <small>{esc(s.id)} · after turn {s.context_turns} · {s.submitted} submitted</small></h3>"
            f"{_candidate_table(s, reveal)}<h4>Annotations</h4>{_votes(s)}"
            for s in view.candidate_sets
        )
        or '<p class="muted">No candidate sets yet.</p>'
    )
    return (
        f'<section class="dlg" id="{esc(view.id)}"><header><h2>{esc(view.character_name)}</h2>{_badges(view)}'
        f'<div class="id">{esc(view.id)}</div></header>{_setting(view)}'
        f'<h3>Conversation</h3><div class="turns">{_turns(view)}</div>{sets}'
        f"<h4>Cleaning flags</h4>{_flags(view)}</section>"
    )


def _nav_item(view: DialogueView) -> str:
    d = view.dialogue
    votes = sum(s.submitted for s in view.candidate_sets)
    search = " ".join([view.character_name, d.language, d.target_dimension or "", view.id, *(t.text for t in d.turns)])
    return (
        f'<li><a href="#{esc(view.id)}" data-id="{esc(view.id)}" data-lang="{esc(d.language)}" '
        f'data-search="{esc(search.casefold())}"><b>{esc(view.character_name)}</b>'
        f'<span class="chip lang">{esc(d.language)}</span><span class="sub">{esc(d.target_dimension or "—")}'
        f" · {votes} vote{'s' if votes != 1 else ''}</span></a></li>"
    )


CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#6b7280;--line:#e3e6ea;--accent:#4f46e5;
--best:#16a34a;--worst:#dc2626;--user:#ecfdf5;--char:#eef2ff;--warn:#b45309}
*{box-sizing:border-box}body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
"Noto Sans CJK SC",sans-serif;color:var(--ink);background:var(--bg)}
.top{position:sticky;top:0;z-index:2;display:flex;gap:12px;align-items:center;padding:10px 18px;
background:#1f2937;color:#fff}.top h1{font-size:16px;margin:0 12px 0 0}.top .muted{color:#cbd5e1}
.top input,.top select{font:inherit;padding:4px 8px;border-radius:6px;border:1px solid #475569}
.wrap{display:grid;grid-template-columns:280px 1fr;min-height:calc(100vh - 50px)}
nav{border-right:1px solid var(--line);background:var(--card);overflow:auto;max-height:calc(100vh - 50px);
position:sticky;top:50px}nav ul{list-style:none;margin:0;padding:6px}
nav a{display:block;padding:8px 10px;border-radius:8px;color:inherit;text-decoration:none}
nav a:hover{background:#f1f5f9}nav a.active{background:#e0e7ff}
nav .sub{display:block;color:var(--muted);font-size:12px}
main{padding:18px 26px;max-width:1200px}
.dlg{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:18px 22px;margin-bottom:18px}
.js .dlg{display:none}.js .dlg.active{display:block}
.dlg header{display:flex;flex-wrap:wrap;gap:8px;align-items:center}.dlg h2{margin:0 8px 0 0;font-size:20px}
.id{margin-left:auto;color:var(--muted);font:12px ui-monospace,monospace}
.chip{display:inline-block;padding:1px 8px;border-radius:999px;background:#f1f5f9;font-size:12px;margin-left:4px}
.chip.lang{background:#e0f2fe}.chip.dim{background:#fae8ff}.chip.warn{background:#fef3c7;color:var(--warn)}
.setting{display:grid;grid-template-columns:120px 1fr;gap:4px 12px;margin:14px 0}
.setting dt{color:var(--muted)}.setting dd{margin:0}summary{cursor:pointer;color:var(--accent)}
h3{margin:20px 0 8px;font-size:15px}h3 small,h4{color:var(--muted);font-weight:normal}h4{margin:12px 0 4px}
.turns{display:flex;flex-direction:column;gap:6px}
.turn{max-width:80%;padding:6px 12px;border-radius:10px;white-space:pre-wrap}
.turn.user{background:var(--user);align-self:flex-start}.turn.character{background:var(--char);align-self:flex-end}
.who{font-size:12px;color:var(--muted);font-weight:600}
table.cands{width:100%;border-collapse:collapse}
.cands th{text-align:left;font-size:12px;color:var(--muted);border-bottom:2px solid var(--line);padding:6px}
.cands td{border-bottom:1px solid var(--line);padding:8px 6px;vertical-align:top}
.cands td.label{font-size:16px;width:28px}.reply:empty::before{content:"(empty reply)";color:var(--muted)}.cands td.text{white-space:pre-wrap}
.cands td.num{width:70px;position:relative;text-align:right}.cands .score{font-variant-numeric:tabular-nums}
.bar{position:absolute;left:6px;bottom:8px;height:4px;border-radius:2px}.bar.best{background:var(--best)}
.bar.worst{background:var(--worst)}
tr.top-best td.label{box-shadow:inset 4px 0 var(--best)}tr.top-worst td.label{box-shadow:inset 4px 0 var(--worst)}
tr.top-best.top-worst td.label{box-shadow:inset 4px 0 var(--warn)}
ul.votes,ul.notes{margin:0;padding-left:20px}li.draft,li.discarded{color:var(--muted)}
.muted{color:var(--muted)}
"""

JS = """
document.documentElement.classList.add('js');
(function(){
  var links=[].slice.call(document.querySelectorAll('nav a'));
  function show(id){
    document.querySelectorAll('.dlg').forEach(function(s){s.classList.toggle('active',s.id===id);});
    links.forEach(function(a){a.classList.toggle('active',a.dataset.id===id);});
  }
  function pick(){
    var id=decodeURIComponent(location.hash.slice(1));
    if(!document.getElementById(id)){var v=links.filter(function(a){return a.parentNode.style.display!=='none';});
      id=v.length?v[0].dataset.id:'';}
    show(id);
  }
  var q=document.getElementById('q'),lang=document.getElementById('lang');
  function filter(){
    var t=q.value.trim().toLowerCase(),l=lang.value;
    links.forEach(function(a){a.parentNode.style.display=(a.dataset.search.indexOf(t)>=0&&(!l||a.dataset.lang===l))?'':'none';});
    document.getElementById('shown').textContent=links.filter(function(a){return a.parentNode.style.display!=='none';}).length;
  }
  q.addEventListener('input',filter);lang.addEventListener('change',filter);
  window.addEventListener('hashchange',pick);pick();
})();
"""


def render_page(views: list[DialogueView], *, title: str = "charm-builder preview", reveal: bool = False) -> str:
    """The whole page: a filterable list of dialogues and one section per dialogue."""
    nav = "".join(_nav_item(v) for v in views)
    body = "".join(dialogue_section(v, reveal) for v in views)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<div class="top"><h1>{esc(title)}</h1><span class="muted"><span id="shown">{len(views)}</span> of '
        f"{len(views)} dialogues{' · models revealed' if reveal else ''}</span>"
        '<input id="q" type="search" placeholder="Filter: name, text, id…" aria-label="Filter dialogues">'
        '<select id="lang" aria-label="Language"><option value="">all languages</option>'
        '<option value="zh">zh</option><option value="en">en</option></select></div>'
        f'<div class="wrap"><nav><ul>{nav}</ul></nav><main>{body}</main></div>'
        f"<script>{JS}</script></body></html>"
    )
