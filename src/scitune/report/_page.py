"""The page around the sections: style, the few lines of script, and the security policy."""

from __future__ import annotations

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f7f8fa; --blue:#2f6db5;
  --crit:#c53030; --warn:#b7791f; --info:#2b6cb0; --ok:#2e7d4f; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
  sans-serif; color:var(--ink); background:var(--bg); }
header.top { background:#fff; border-bottom:1px solid var(--line); position:sticky; top:0;
  z-index:10; }
header.top .in { max-width:1320px; margin:0 auto; padding:10px 24px; display:flex; gap:24px;
  align-items:baseline; flex-wrap:wrap; }
header.top .brand { font-weight:700; letter-spacing:.02em; }
header.top .study { font-weight:600; font-size:16px; }
header.top nav a { color:var(--muted); text-decoration:none; margin-right:14px; font-size:13px; }
header.top nav a:hover { color:var(--blue); }
main { max-width:1320px; margin:0 auto; padding:8px 24px 48px; }
section { margin-top:28px; }
h2 { font-size:19px; margin:0 0 10px; display:flex; gap:10px; align-items:center; }
h3 { font-size:14px; margin:0 0 8px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
p.intro { color:var(--muted); margin:-4px 0 12px; max-width:980px; }
.goal { font-size:17px; margin:0 0 14px; padding:10px 14px; background:#fff;
  border-left:4px solid var(--blue); border-radius:4px; }
.muted { color:var(--muted); }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(220px,1fr)); gap:12px; }
.card, .panel, .plot-card, .finding, .tablewrap { background:#fff; border:1px solid var(--line);
  border-radius:8px; }
.card { padding:12px 14px; }
.card .label { font-size:12px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
.card .value { font-size:22px; font-weight:650; margin:2px 0; overflow-wrap:anywhere; }
.card .detail { font-size:12.5px; color:var(--muted); }
.two { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:12px;
  margin-top:12px; }
.panel { padding:12px 14px; }
table.kv, table.roles, table.settings { border-collapse:collapse; width:100%; }
table.kv th, table.roles th, table.settings th { text-align:left; font-weight:600;
  padding:3px 10px 3px 0; white-space:nowrap; }
table.kv td, table.roles td, table.settings td { padding:3px 10px 3px 0;
  overflow-wrap:anywhere; }
table.settings td.muted { font-size:12.5px; }
.role { font-size:11px; padding:1px 7px; border-radius:10px; font-weight:600;
  white-space:nowrap; }
.role-scientific { background:#e3edf9; color:#1d4e89; }
.role-nuisance { background:#eef0f3; color:#52606d; }
.role-fixed { background:#fdf1dc; color:#8a5a00; }
.caveat { background:#fffaf0; border:1px solid #f6e0b5; padding:6px 10px; border-radius:6px;
  font-size:13px; margin:10px 0 0; }
.st-complete { color:var(--ok); } .st-infeasible { color:var(--crit); }
.st-failed { color:#7b341e; } .st-running, .st-pending { color:var(--muted); }
.sev { font-size:11.5px; font-weight:700; text-transform:uppercase; padding:2px 8px;
  border-radius:10px; letter-spacing:.03em; color:#fff; }
.sev-critical { background:var(--crit); } .sev-warning { background:var(--warn); }
.sev-info { background:var(--info); }
.finding { padding:10px 14px; margin-bottom:10px; border-left:5px solid var(--info); }
.finding.f-critical { border-left-color:var(--crit); }
.finding.f-warning { border-left-color:var(--warn); }
.finding header { display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
.finding code { font-size:12.5px; color:var(--muted); }
.finding .subject { font-weight:600; }
.finding .cite { margin-left:auto; font-size:12px; color:var(--muted); font-style:italic; }
.finding .msg { margin:6px 0 4px; font-size:15px; }
.finding .action { margin:0 0 6px; }
.finding .action span { font-weight:700; color:var(--blue); margin-right:8px; }
.evidence { display:flex; flex-wrap:wrap; gap:6px; }
.ev { font-size:12px; background:var(--bg); border:1px solid var(--line); border-radius:4px;
  padding:1px 6px; font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
  overflow-wrap:anywhere; }
.ev b { font-weight:600; color:var(--muted); }
details.raw { width:100%; font-size:12px; }
details.raw summary { color:var(--muted); cursor:pointer; display:inline; }
details.raw pre { max-height:260px; overflow:auto; background:var(--bg); padding:6px 8px;
  border-radius:4px; margin:4px 0 0; font-size:11.5px; }
.infos { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
details.info { border-top:1px solid #f0f2f4; padding:5px 0; }
details.info:first-of-type { border-top:0; }
details.info > summary { cursor:pointer; list-style:none; }
details.info > summary::before { content:"▸ "; color:var(--info); }
details.info[open] > summary::before { content:"▾ "; }
details.info > summary code { font-size:12.5px; color:var(--info); margin-right:6px; }
details.info .action, details.info .cite, details.info .evidence { margin:6px 0 4px 18px; }
details.info .cite { font-size:12px; color:var(--muted); font-style:italic; }
.ok { background:#f0faf4; border:1px solid #c6ebd4; padding:10px 14px; border-radius:8px; }
.plots { display:grid; grid-template-columns:repeat(auto-fit,minmax(560px,1fr)); gap:14px; }
.plot-card { padding:6px; min-width:0; }
.plot-card.wide { grid-column:1/-1; }
.plot-error { color:var(--crit); padding:16px; }
.tablewrap { overflow:auto; max-height:720px; }
table.trials { border-collapse:collapse; width:100%; font-size:12.5px;
  font-variant-numeric:tabular-nums; }
table.trials th { position:sticky; top:0; background:#f1f3f5; text-align:left;
  padding:6px 8px; cursor:pointer; user-select:none; white-space:nowrap;
  border-bottom:1px solid var(--line); }
table.trials th:hover { color:var(--blue); }
table.trials th.n { text-align:right; }
table.trials th[aria-sort=ascending]::after { content:" ▲"; font-size:10px; }
table.trials th[aria-sort=descending]::after { content:" ▼"; font-size:10px; }
table.trials td { padding:4px 8px; border-bottom:1px solid #f0f2f4; vertical-align:top; }
table.trials td.n { text-align:right; }
table.trials td.reason { max-width:420px; overflow-wrap:anywhere; }
table.trials tr:hover td { background:#f7fafd; }
table.trials pre { white-space:pre-wrap; max-height:240px; overflow:auto; margin:4px 0 0;
  font-size:11.5px; background:var(--bg); padding:6px; }
.tablebar { display:flex; gap:12px; align-items:center; margin:6px 0 8px; color:var(--muted); }
button { font:inherit; padding:3px 10px; border:1px solid var(--line); background:#fff;
  border-radius:5px; cursor:pointer; }
button:hover { border-color:var(--blue); color:var(--blue); }
details > summary { cursor:pointer; list-style:none; }
details > summary h2 { display:inline-flex; }
details > summary h2::before { content:"▸"; color:var(--muted); }
details[open] > summary h2::before { content:"▾"; }
.changed { font-size:11px; background:#fdf1dc; color:#8a5a00; padding:0 6px; border-radius:8px; }
.html-card { min-width:0; }
.html-card.wide { grid-column:1/-1; }
.tablewrap-x { overflow-x:auto; }
table.data { border-collapse:collapse; width:100%; font-size:13px;
  font-variant-numeric:tabular-nums; }
table.data th { text-align:left; font-weight:600; color:var(--muted); font-size:12px;
  padding:4px 10px 4px 0; border-bottom:1px solid var(--line); white-space:nowrap; }
table.data td { padding:6px 10px 6px 0; border-bottom:1px solid #f0f2f4; vertical-align:top;
  overflow-wrap:anywhere; }
table.data .n { text-align:right; white-space:nowrap; }
table.data td.when { white-space:nowrap; }
table.data td.notes-cell { max-width:320px; white-space:pre-wrap; }
table.data details.raw ul { margin:4px 0 0; padding-left:18px; }
table.data .spike { color:var(--warn); }
svg.strip { display:block; }
.diffs { display:flex; flex-wrap:wrap; gap:4px; }
.diff, .chip { font-size:12px; background:var(--bg); border:1px solid var(--line);
  border-radius:4px; padding:0 6px; overflow-wrap:anywhere; }
.diff b { font-weight:600; color:var(--muted); margin-right:3px; }
.chip { margin-right:4px; display:inline-block; }
.chip-here { border-color:var(--blue); color:var(--blue); font-weight:600; }
.chip-adopt { border-color:#c6ebd4; background:#f0faf4; }
.chip-reject { border-color:#f5c6c6; background:#fdf3f3; }
.pill { font-size:11px; font-weight:700; padding:1px 8px; border-radius:10px;
  white-space:nowrap; margin-left:6px; }
.pill-open { background:#e3edf9; color:#1d4e89; }
.pill-closed { background:#eef0f3; color:#52606d; }
.pill-here { background:var(--blue); color:#fff; }
.pill-forced { background:#fdf1dc; color:#8a5a00; border:1px solid #e8731a; }
.verdict { font-size:11.5px; font-weight:700; padding:1px 7px; border-radius:10px;
  color:#fff; background:var(--muted); white-space:nowrap; }
.verdict.v-adopt { background:var(--ok); } .verdict.v-worse { background:var(--crit); }
ol.rounds { list-style:none; margin:0; padding:0; }
li.round { border-left:3px solid var(--line); padding:6px 0 10px 14px; margin-left:4px;
  position:relative; }
li.round::before { content:""; position:absolute; left:-8px; top:11px; width:11px; height:11px;
  border-radius:50%; background:#fff; border:2px solid #9aa5b1; }
li.round.current { border-left-color:var(--blue); background:#f5f9fe; border-radius:0 6px 6px 0; }
li.round.current::before { border-color:var(--blue); background:var(--blue); }
.round-head { display:flex; align-items:baseline; flex-wrap:wrap; gap:2px; }
.round-head .dates { margin-left:12px; font-size:12.5px; }
.round-goal { margin:4px 0 6px; font-size:15px; overflow-wrap:anywhere; }
.round-row { margin:3px 0; font-size:13px; overflow-wrap:anywhere; }
.round-row .k { color:var(--muted); font-size:12px; display:inline-block; min-width:130px; }
.notes { white-space:pre-wrap; margin:6px 0 0; padding:6px 10px; background:var(--bg);
  border-radius:4px; font-size:13px; overflow-wrap:anywhere; }
footer { max-width:1320px; margin:0 auto; padding:0 24px 32px; color:var(--muted);
  font-size:12px; }
"""

# Renders the figures one after the other (the page stays responsive), rebuilding trial hover
# labels stored once per trial, then the trial table. Text only ever goes in via textContent.
SCRIPT = r"""
(function () {
  "use strict";
  function data(id) { return JSON.parse(document.getElementById(id).textContent); }
  var HOVER_META = "scitune:trial-hover";
  var config = { responsive: true, displaylogo: false, typesetMath: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };

  async function drawPlots() {
    var hover = data("trial-hover");
    var divs = document.querySelectorAll("div.plot");
    for (var i = 0; i < divs.length; i++) {
      var div = divs[i];
      try {
        var fig = data(div.dataset.fig);
        fig.data.forEach(function (t) {
          if (t.meta === HOVER_META && !t.text && Array.isArray(t.customdata)) {
            t.text = t.customdata.map(function (n) { return hover[n] || ("trial " + n); });
          }
        });
        await Plotly.newPlot(div, fig.data, fig.layout, config);
      } catch (err) {
        div.textContent = "This plot could not be drawn: " + err;
        div.className = "plot-error";
      }
      await new Promise(function (r) { setTimeout(r, 0); });
    }
    document.body.setAttribute("data-plots", "done");
  }

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      var a = Math.abs(v);
      if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
      return String(Number(v.toPrecision(4)));
    }
    return String(v);
  }

  function table() {
    var spec = data("trial-table");
    var table = document.getElementById("trials-table");
    var bar = document.getElementById("trials-bar");
    if (!table) return;
    var cols = spec.columns, rows = spec.rows, limit = 500;
    var reasonCol = cols.length - 1, stderrCol = cols.length;
    var order = { col: 4, dir: 1 };
    var thead = document.createElement("thead"), tr = document.createElement("tr");
    var numeric = cols.map(function (_, c) {
      return rows.every(function (r) { return r[c] === null || typeof r[c] === "number"; });
    });
    cols.forEach(function (name, c) {
      var th = document.createElement("th");
      th.textContent = name;
      if (numeric[c] && c !== reasonCol) th.className = "n";
      th.title = "sort by " + name;
      th.addEventListener("click", function () {
        order = { col: c, dir: order.col === c ? -order.dir : 1 };
        render();
      });
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    table.appendChild(thead);
    var tbody = document.createElement("tbody");
    table.appendChild(tbody);
    var info = document.createElement("span"), more = document.createElement("button");
    bar.appendChild(info);
    bar.appendChild(more);
    more.addEventListener("click", function () { limit = limit ? 0 : 500; render(); });

    function compare(a, b) {
      var x = a[order.col], y = b[order.col];
      var xn = x === null || x === undefined || x === "", yn = y === null || y === undefined
        || y === "";
      if (xn || yn) return xn === yn ? a[0] - b[0] : (xn ? 1 : -1);
      if (typeof x === "number" && typeof y === "number") return order.dir * (x - y) || a[0] - b[0];
      return order.dir * String(x).localeCompare(String(y)) || a[0] - b[0];
    }

    function render() {
      var sorted = rows.slice().sort(compare);
      var shown = limit ? sorted.slice(0, limit) : sorted;
      var frag = document.createDocumentFragment();
      shown.forEach(function (row) {
        var r = document.createElement("tr");
        for (var c = 0; c < cols.length; c++) {
          var td = document.createElement("td");
          var v = row[c];
          if (c === 1) { td.className = "st-" + String(v).toLowerCase(); td.textContent = v; }
          else if (c === reasonCol) {
            td.className = "reason";
            td.textContent = v || "";
            if (row[stderrCol]) {
              var d = document.createElement("details"), s = document.createElement("summary");
              var pre = document.createElement("pre");
              s.textContent = "stderr";
              pre.textContent = row[stderrCol];
              d.appendChild(s); d.appendChild(pre); td.appendChild(d);
            }
          } else { td.textContent = fmt(v); if (typeof v === "number") td.className = "n"; }
          r.appendChild(td);
        }
        frag.appendChild(r);
      });
      tbody.replaceChildren(frag);
      Array.prototype.forEach.call(tr.children, function (th, c) {
        if (c === order.col) th.setAttribute("aria-sort", order.dir > 0 ? "ascending"
          : "descending");
        else th.removeAttribute("aria-sort");
      });
      info.textContent = "showing " + shown.length.toLocaleString() + " of "
        + rows.length.toLocaleString() + " trials · click a column to sort";
      more.textContent = limit ? "show all" : "show the first 500";
      more.style.display = rows.length > 500 ? "" : "none";
    }
    render();
  }

  table();
  drawPlots();
})();
"""
