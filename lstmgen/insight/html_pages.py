"""Self-contained HTML pages of a text coloured position by position: cells and surprise.

One file each, with its CSS, its JavaScript and its data inline (no network, no external
file): open it in any browser. The data is one JSON object in a ``<script
type="application/json">`` element; the page's script builds one ``<span>`` per token and
recolours them, so 10,000 characters stay quick.

- ``cells_html``: the text coloured by one unit (blue for negative, white for 0, red for
  positive, as in Karpathy, Johnson & Fei-Fei 2015), a selector for layer, unit and quantity,
  the finder's ranking (click a unit to show it), and on hover the position's value and the
  model's top next tokens.
- ``surprise_html``: the text coloured by each token's surprisal in bits (white to red), and on
  hover what the model expected there instead.

Activations travel as int8, one block per layer and quantity, unit-major, base64: a unit's T
values are ``round(127 v / s)`` with s the largest |v| of that unit (``quantised``): the main
quantity of 2 x 256 units over 10,000 characters is 6.8 MB of base64 (about 50 MB as JSON
numbers), and a whole page about 9 MB. A page holds ``PAGE_CHARS`` characters unless told
otherwise (``--max-chars``), and says so when it cuts the text.
"""

import base64
import json
import os
from pathlib import Path

import numpy as np

PAGE_CHARS = 10_000  # characters a page holds by default (--max-chars): quick to write and to open


def quantised(values: np.ndarray) -> dict:
    """values (T, n) -> {"scale": n floats, "data": base64 of the (n, T) int8 values}."""
    scale = np.abs(values).max(axis=0) if len(values) else np.zeros(values.shape[1])  # (n,)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float64)
    q = np.rint(values / scale * 127).astype(np.int8)  # (T, n)
    return {"scale": [float(f"{s:.6g}") for s in scale],
            "data": base64.b64encode(np.ascontiguousarray(q.T).tobytes()).decode("ascii")}


def _page(payload: dict) -> str:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    title = json.dumps(payload["title"], ensure_ascii=False)[1:-1].replace("&", "&amp;").replace("<", "&lt;")
    return _TEMPLATE.replace("__TITLE__", title).replace("__DATA__", data)


def cells_html(payload: dict) -> str:
    """The cells page for ``cells_view.page_payload``'s data."""
    return _page(dict(payload, kind="cells"))


def surprise_html(payload: dict) -> str:
    """The surprise page for ``cells_view.surprise_payload``'s data."""
    return _page(dict(payload, kind="surprise"))


def write_page(html: str, path) -> None:
    """Write atomically: a reader never sees half a page."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fafafa; }
header { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid #ddd; padding: 6px 12px; }
header h1 { font-size: 15px; margin: 0 0 2px 0; }
header .sub { color: #666; font-size: 12px; }
.controls { margin-top: 6px; display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
.controls input[type=number] { width: 5em; }
.legend { display: inline-flex; align-items: center; gap: 4px; font-size: 12px; color: #555; }
.legend .bar { width: 120px; height: 10px; border: 1px solid #ccc; }
.note { color: #a55; font-size: 12px; }
main { display: flex; gap: 12px; padding: 12px; align-items: flex-start; }
#text { flex: 1; min-width: 0; background: #fff; border: 1px solid #ddd; padding: 10px;
        font: 13px/1.55 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
        white-space: pre-wrap; overflow-wrap: anywhere; }
#text span.nl { color: #bbb; }
#text span:hover { outline: 1px solid #000; }
aside { width: 300px; flex: none; background: #fff; border: 1px solid #ddd; padding: 8px; font-size: 12px;
        max-height: calc(100vh - 120px); overflow-y: auto; position: sticky; top: 90px; }
aside h2 { font-size: 13px; margin: 8px 0 2px 0; }
aside .desc { color: #777; }
aside .constant { color: #999; font-style: italic; }
aside a { cursor: pointer; color: #06c; display: inline-block; margin: 1px 6px 1px 0; font-family: monospace; }
aside a.current { background: #ffe9a8; }
#tip { position: fixed; z-index: 3; display: none; background: #fff; border: 1px solid #888; padding: 6px 8px;
       font: 12px/1.35 ui-monospace, Menlo, Consolas, monospace; box-shadow: 2px 2px 6px rgba(0,0,0,.2);
       pointer-events: none; min-width: 220px; }
#tip .row { display: flex; gap: 6px; align-items: center; white-space: pre; }
#tip .pbar { display: inline-block; height: 8px; background: #7aa7e0; }
#tip .hit { font-weight: bold; color: #b00; }
</style>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <div class="sub" id="sub"></div>
  <div class="controls" id="controls"></div>
  <div class="note" id="note"></div>
</header>
<main>
  <div id="text"></div>
  <aside id="side"></aside>
</main>
<div id="tip"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const T = D.pieces.length, K = D.K;
const $ = (id) => document.getElementById(id);
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const show = (s) => JSON.stringify(s);
$("title").textContent = D.title;
$("sub").textContent = D.subtitle;
$("note").textContent = D.note || "";

// the text: one span per token
const spans = new Array(T);
const frag = document.createDocumentFragment();
for (let k = 0; k < T; k++) {
  const s = document.createElement("span");
  const p = D.pieces[k];
  if (p === "\n") { s.textContent = "\u21b5\n"; s.className = "nl"; } else s.textContent = p;
  s.k = k;
  spans[k] = s;
  frag.appendChild(s);
}
$("text").appendChild(frag);

// blue (-1) .. white (0) .. red (+1)
function colour(x) {
  x = Math.max(-1, Math.min(1, x));
  const t = Math.abs(x);
  if (x >= 0) { const c = Math.round(255 * (1 - 0.75 * t)); return `rgb(255,${c},${c})`; }
  return `rgb(${Math.round(255 * (1 - 0.75 * t))},${Math.round(255 * (1 - 0.45 * t))},255)`;
}
function gradient(lo, hi) {
  const stops = [];
  for (let i = 0; i <= 10; i++) stops.push(colour(lo + (hi - lo) * i / 10));
  return `linear-gradient(to right, ${stops.join(",")})`;
}
function topLines(k, actual) {
  let html = "";
  for (let j = 0; j < K; j++) {
    const id = D.top[k * K + j], p = D.top_p[k * K + j] / 1000;
    const cls = id === actual ? "row hit" : "row";
    html += `<div class="${cls}"><span>${esc(show(D.tokens[id]))}</span>` +
            `<span class="pbar" style="width:${Math.round(p * 80)}px"></span><span>${p.toFixed(3)}</span></div>`;
  }
  return html;
}
const fmtP = (m) => m === 0 ? "<0.001" : (m / 1000).toFixed(3);

const tip = $("tip");
let describe = null;  // k -> the tooltip's HTML
function showTip(k, cx, cy) {
  tip.innerHTML = describe(k);
  tip.style.display = "block";
  const x = Math.min(cx + 14, window.innerWidth - tip.offsetWidth - 8);
  const y = cy + 16 + tip.offsetHeight > window.innerHeight ? cy - tip.offsetHeight - 10 : cy + 16;
  tip.style.left = x + "px"; tip.style.top = y + "px";
}
$("text").addEventListener("mousemove", (e) => {
  if (e.target.k === undefined) tip.style.display = "none"; else showTip(e.target.k, e.clientX, e.clientY);
});
$("text").addEventListener("mouseleave", () => { tip.style.display = "none"; });

// the address may name a view: #layer=1&unit=37&q=f&stretch=1&pos=120 (pos: show that position's hover)
const wanted = new URLSearchParams(location.hash.slice(1));
if (D.kind === "surprise") surprisePage(); else cellsPage();
if (wanted.has("pos")) {
  const k = Math.max(0, Math.min(T - 1, +wanted.get("pos"))), s = spans[k];
  s.scrollIntoView({block: "center"});
  const r = s.getBoundingClientRect();
  showTip(k, r.right, r.bottom - 10);
}

function surprisePage() {
  const cap = D.cap_bits;
  for (let k = 0; k < T; k++) spans[k].style.background = colour(D.bits[k] / cap);
  $("controls").innerHTML = `<span class="legend">0 bits <span class="bar" style="background:${gradient(0, 1)}"></span>` +
    ` ${cap}+ bits of surprisal</span>`;
  describe = (k) => `<div>position ${k}: ${esc(show(D.tokens[D.ids[k]]))}</div>` +
    `<div>p = ${fmtP(Math.round(1000 * Math.pow(2, -D.bits[k])))}, surprisal ${D.bits[k].toFixed(2)} bits</div><div>the model expected:</div>` +
    topLines(k, D.ids[k]);
  $("side").innerHTML = `<h2>where the model is surprised</h2><div class="desc">${esc(D.summary)}</div>` +
    D.worst.map(([k, b]) => `<a data-k="${k}">${esc(show(D.tokens[D.ids[k]]))} ${b.toFixed(1)}</a>`).join("");
  $("side").addEventListener("click", (e) => {
    if (e.target.dataset.k !== undefined) spans[+e.target.dataset.k].scrollIntoView({block: "center"});
  });
}

function cellsPage() {
  const decoded = {};
  function block(layer, q) {
    const key = layer + "/" + q, b = D.blocks[key];
    if (!b) return null;
    if (!decoded[key]) {
      const s = atob(b.data), a = new Int8Array(s.length);
      for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
      decoded[key] = a;
    }
    return {b, a: decoded[key]};
  }
  function values(layer, unit, q) {  // the unit's T values, or null when the page does not carry them
    const blk = block(layer, q);
    if (!blk) return null;
    const i = blk.b.units === null ? unit : blk.b.units.indexOf(unit);
    if (i < 0) return null;
    const v = new Float32Array(T), s = blk.b.scale[i] / 127, off = i * T;
    for (let k = 0; k < T; k++) v[k] = blk.a[off + k] * s;
    return v;
  }
  const ranges = {};
  for (const q of D.quantities) ranges[q.name] = [q.lo, q.hi];
  const cur = {layer: D.start.layer, unit: D.start.unit, q: D.start.quantity, v: null};

  const c = $("controls");
  c.innerHTML =
    `<label>layer <select id="layer">${Array.from({length: D.layers}, (_, l) => `<option>${l}</option>`).join("")}</select></label>` +
    `<label>unit <input type="number" id="unit" min="0" max="${D.hidden - 1}"></label>` +
    `<button id="prev">&#9664;</button><button id="next">&#9654;</button>` +
    `<label>quantity <select id="q">${D.quantities.map((q) => `<option>${esc(q.name)}</option>`).join("")}</select></label>` +
    `<label><input type="checkbox" id="stretch"> stretch colours to the unit's range</label>` +
    `<span class="legend" id="legend"></span>`;
  function draw() {
    $("layer").value = cur.layer; $("unit").value = cur.unit; $("q").value = cur.q;
    let v = values(cur.layer, cur.unit, cur.q);
    const missing = v === null;
    if (missing) { cur.q = D.activation; $("q").value = cur.q; v = values(cur.layer, cur.unit, cur.q); }
    cur.v = v;
    let [lo, hi] = ranges[cur.q];
    if ($("stretch").checked) {
      lo = Infinity; hi = -Infinity;
      for (let k = 0; k < T; k++) { lo = Math.min(lo, v[k]); hi = Math.max(hi, v[k]); }
      if (!(hi > lo)) { lo -= 1; hi += 1; }
    }
    for (let k = 0; k < T; k++) spans[k].style.background = colour(2 * (v[k] - lo) / (hi - lo) - 1);
    $("legend").innerHTML = `${+lo.toFixed(2)} <span class="bar" style="background:${gradient(-1, 1)}"></span> ${+hi.toFixed(2)}`;
    $("note").textContent = (D.note || "") + (missing ? ` Only the units listed on the right carry every quantity; ` +
      `this one shows ${D.activation} (add it with --unit).` : "");
    for (const a of document.querySelectorAll("aside a"))
      a.classList.toggle("current", +a.dataset.layer === cur.layer && +a.dataset.unit === cur.unit);
  }
  function go(layer, unit, q) {
    cur.layer = Math.max(0, Math.min(D.layers - 1, layer));
    cur.unit = Math.max(0, Math.min(D.hidden - 1, unit));
    if (q) cur.q = q;
    draw();
    history.replaceState(null, "", `#layer=${cur.layer}&unit=${cur.unit}&q=${encodeURIComponent(cur.q)}`);
  }
  $("layer").onchange = () => go(+$("layer").value, cur.unit);
  $("unit").onchange = () => go(cur.layer, +$("unit").value);
  $("prev").onclick = () => go(cur.layer, cur.unit - 1);
  $("next").onclick = () => go(cur.layer, cur.unit + 1);
  $("q").onchange = () => go(cur.layer, cur.unit, $("q").value);
  $("stretch").onchange = draw;

  const link = (l, u, label) => `<a data-layer="${l}" data-unit="${u}">${label}</a>`;
  let side = "";
  if (D.chosen.length)
    side += `<h2>chosen units</h2>` + D.chosen.map(([l, u]) => link(l, u, `L${l} #${u}`)).join("");
  side += `<h2 style="margin-top:10px">the finder: units that follow a feature</h2>` +
          `<div class="desc">Pearson's r of each unit's ${esc(D.activation)} with the feature, over this text</div>`;
  for (const f of D.ranking) {
    side += `<h2>${esc(f.feature)}</h2><div class="desc">${esc(f.description)}</div>`;
    if (f.constant) { side += `<div class="constant">constant in this text</div>`; continue; }
    side += f.top.map((e) => link(e.layer, e.unit, `L${e.layer} #${e.unit} ${e.r >= 0 ? "+" : ""}${e.r.toFixed(2)}`)).join("");
  }
  $("side").innerHTML = side;
  $("side").addEventListener("click", (e) => {
    const a = e.target.closest("a");
    if (a) go(+a.dataset.layer, +a.dataset.unit);
  });

  describe = (k) => {
    const nxt = k + 1 < T ? D.ids[k + 1] : -1;
    return `<div>position ${k}: ${esc(show(D.pieces[k]))}</div>` +
      `<div>layer ${cur.layer} unit ${cur.unit} ${esc(cur.q)} = ${cur.v[k].toFixed(3)}</div>` +
      `<div>next: ${nxt >= 0 ? esc(show(D.tokens[nxt])) : "end"} p = ${fmtP(D.next_p[k])}</div>` +
      `<div>the model's top next tokens:</div>` + topLines(k, nxt);
  };
  if (wanted.has("stretch")) $("stretch").checked = true;
  if (wanted.has("layer") || wanted.has("unit") || wanted.has("q"))
    go(+(wanted.get("layer") ?? cur.layer), +(wanted.get("unit") ?? cur.unit), wanted.get("q") || cur.q);
  else draw();
}
</script>
</body>
</html>
"""
