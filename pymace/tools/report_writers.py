"""The report's writers: sections of blocks → one self-contained HTML file (inline CSS, plots as base64 PNG,
nothing fetched), or Markdown with the PNGs beside it.

Blocks: ("p", text) | ("table", headers, rows) | ("img", key, png bytes or None, caption) | ("list", items) |
("pre", text) | ("card", title, [(label, value)], verdict) | ("facts", [(label, value)]) |
("details", summary, [blocks]). Text may hold `code` spans, rendered as code (never as raw backticks)."""
from __future__ import annotations

import base64
import dataclasses
import html
import re
from pathlib import Path

from .report_plots import MISSING

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.45}h1{font-size:1.6em}h2{border-bottom:2px solid #4f81bd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top;word-break:normal;overflow-wrap:normal}th{background:#eef3fa}
td.long{word-break:break-all;font-family:ui-monospace,monospace;font-size:.85em}td:first-child{white-space:nowrap}
code{background:#f0f0f0;padding:0 .25em;border-radius:3px;font-size:.92em}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}img{max-width:100%}
pre{background:#f5f5f5;padding:.8em;overflow-x:auto}details{margin:.8em 0}summary{cursor:pointer;font-weight:600}
.card{border:2px solid #4f81bd;border-radius:8px;padding:1em 1.2em;margin:1em 0;background:#f7faff}
.card h2{border:none;margin:0 0 .5em 0}.card dl{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1.5em;
margin:0}.card dt{color:#555}.card dd{margin:0;font-weight:600}.pass{color:#1a7f37}.fail{color:#c0392b}
.skip{color:#9a6700}.note{color:#9a6700}dl.facts{display:grid;grid-template-columns:max-content 1fr;
gap:.2em 1.5em}dl.facts dt{color:#555}dl.facts dd{margin:0}"""
_CODE = re.compile(r"`([^`]+)`")
LONG_TOKEN = 40  # a cell with a token this long (a hash, a path) may break anywhere; other cells keep words


def _inline(text) -> str:
    """Escaped text with `code` spans as <code>."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(_str(text)))


def _cell(value) -> str:
    text = _str(value)
    long = any(len(t) >= LONG_TOKEN for t in text.split())
    return f"<td class='long'>{_inline(text)}</td>" if long else f"<td>{_inline(text)}</td>"


def _dl(pairs, cls: str) -> str:
    return f"<dl class='{cls}'>" + "".join(f"<dt>{_inline(k)}</dt><dd>{_inline(v)}</dd>" for k, v in pairs) + "</dl>"


def _html_block(block) -> str:
    kind = block[0]
    if kind == "p":
        return f"<p>{_inline(block[1])}</p>"
    if kind == "pre":
        return f"<pre>{html.escape(block[1])}</pre>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>"
    if kind == "img":
        if block[2] is None:
            return f"<p class='note'>{_inline(block[3])}: {_inline(MISSING)}</p>"
        data = base64.b64encode(block[2]).decode()
        return (f"<figure><img alt='{html.escape(block[3])}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{_inline(block[3])}</figcaption></figure>")
    if kind == "table":
        head = "".join(f"<th>{_inline(h)}</th>" for h in block[1]) if any(block[1]) else ""
        body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in block[2])
        return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"
    if kind == "facts":
        return _dl(block[1], "facts")
    if kind == "card":
        _, title, pairs, verdict = block
        return f"<div class='card {verdict}' id='summary'><h2>{_inline(title)}</h2>{_dl(pairs, 'summary')}</div>"
    if kind == "details":
        inner = "".join(_html_block(b) for b in block[2])
        return f"<details><summary>{_inline(block[1])}</summary>{inner}</details>"
    raise ValueError(f"unknown block {kind!r}")


def to_html(title: str, sections: list, lead: list | None = None) -> str:
    """`lead`: blocks before the first section (the summary card)."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts += [_html_block(b) for b in lead or []]
    for anchor, heading, blocks in sections:
        parts.append(f"<section id='{anchor}'><h2>{html.escape(heading)}</h2>")
        parts += [_html_block(b) for b in blocks]
        parts.append("</section>")
    return "\n".join(parts) + "\n</body></html>\n"


def _md_cell(value) -> str:
    return _str(value).replace("|", "\\|").replace("\n", " ")


def _md_block(block, out: Path) -> list[str]:
    kind = block[0]
    if kind == "p":
        return [block[1], ""]
    if kind == "pre":
        return ["```", block[1], "```", ""]
    if kind == "list":
        return [f"- {i}" for i in block[1]] + [""]
    if kind == "img":
        if block[2] is None:
            return [f"*{block[3]}: {MISSING}*", ""]
        png = out.with_name(f"{out.stem}-{block[1]}.png")
        png.write_bytes(block[2])
        return [f"![{block[3]}]({png.name})", ""]
    if kind == "table":
        headers = [h or " " for h in block[1]]
        return (["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
                + ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block[2]] + [""])
    if kind == "facts":
        return [f"- **{k}**: {_str(v)}" for k, v in block[1]] + [""]
    if kind == "card":
        return [f"> **{block[1]}**", ">"] + [f"> - {k}: **{_str(v)}**" for k, v in block[2]] + [""]
    if kind == "details":
        return ["<details><summary>" + html.escape(block[1]) + "</summary>", ""] + [
            line for b in block[2] for line in _md_block(b, out)] + ["</details>", ""]
    raise ValueError(f"unknown block {kind!r}")


def to_markdown(title: str, sections: list, out: Path, lead: list | None = None) -> str:
    lines = [f"# {title}", ""]
    lines += [line for b in lead or [] for line in _md_block(b, out)]
    for _, heading, blocks in sections:
        lines += [f"## {heading}", ""]
        lines += [line for b in blocks for line in _md_block(b, out)]
    return "\n".join(lines)


def _str(value) -> str:
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return "—" if value is None else str(value)
