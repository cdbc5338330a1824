#include "agent/serve/dashboard_page.h"

namespace nagent::serve {

const char* dashboard_html() {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nagent serve</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
  header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; gap: 12px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; flex: 1; }
  main { display: grid; grid-template-columns: minmax(560px, 1fr) 1.3fr; gap: 12px; padding: 12px; }
  section { background: #fff; border-radius: 6px; padding: 10px; box-shadow: 0 1px 2px #0002; overflow: auto; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eee; white-space: nowrap; }
  tr.job { cursor: pointer; } tr.job:hover, tr.selected { background: #eef3ff; }
  .status { font-weight: 600; padding: 1px 6px; border-radius: 8px; font-size: 12px; }
  .queued { background: #eee; } .running { background: #fff1c2; } .succeeded { background: #c9f2d3; }
  .failed { background: #f9c9c9; } .cancelled { background: #ddd; color: #555; }
  #timeline { font: 12px/1.5 ui-monospace, monospace; max-height: 260px; overflow: auto; }
  #timeline div span { color: #667; margin-right: 6px; }
  pre { font: 12px/1.45 ui-monospace, monospace; margin: 0; }
  #diff .add { color: #116329; background: #e6ffec; } #diff .del { color: #82071e; background: #ffebe9; }
  #diff .hunk { color: #0550ae; } #diff .file { font-weight: 700; }
  #diff .kw { color: #8250df; font-weight: 600; } #diff .str { color: #0a3069; } #diff .num { color: #0550ae; }
  #diff .com { color: #6e7781; font-style: italic; }
  #error { color: #b00; }
  h2 { font-size: 14px; margin: 8px 0 4px; }
</style>
</head>
<body>
<header><h1>nagent serve</h1>
  <input id="token" type="password" placeholder="API token" size="28">
  <button id="connect">Connect</button>
</header>
<main>
  <section><h2>Jobs</h2><div id="error"></div>
    <table><thead><tr><th>id</th><th>status</th><th>recipe</th><th>steps</th><th>tokens</th><th>created</th></tr></thead>
    <tbody id="jobs"></tbody></table></section>
  <section id="detail"><h2 id="job-title">Select a job</h2>
    <div id="summary"></div>
    <h2>Events</h2><div id="timeline"></div>
    <h2>Diff</h2><pre id="diff"></pre>
    <h2>Report</h2><pre id="report"></pre></section>
</main>
<script>
"use strict";
const hash = new URLSearchParams(location.hash.slice(1));
let token = hash.get("token") || sessionStorage.getItem("nagent-token") || "";
let selected = hash.get("job") || "";
let stream = null;
const $ = (id) => document.getElementById(id);
$("token").value = token;

function api(path, options = {}) {
  options.headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  return fetch(path, options);
}

function text(tag, content, cls) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (cls) el.className = cls;
  return el;
}

async function refreshJobs() {
  if (!token) return;
  try {
    const res = await api("/v1/jobs?limit=100");
    const body = await res.json();
    if (!res.ok) { $("error").textContent = body.error.message; return; }
    $("error").textContent = "";
    const rows = $("jobs");
    rows.replaceChildren();
    for (const job of body.jobs) {
      const tr = document.createElement("tr");
      tr.className = "job" + (job.id === selected ? " selected" : "");
      tr.dataset.id = job.id;
      tr.dataset.status = job.status;
      tr.append(text("td", job.id));
      const st = document.createElement("td");
      st.append(text("span", job.status, "status " + job.status));
      tr.append(st, text("td", job.recipe), text("td", job.steps), text("td", job.tokens),
                text("td", new Date(job.timings.created_at * 1000).toLocaleTimeString()));
      tr.onclick = () => select(job.id);
      rows.append(tr);
    }
  } catch (e) { $("error").textContent = String(e); }
}

// Syntax colouring of the code in a diff line: keywords, strings, numbers and comments of
// the usual languages; comments start with "#" in files like Python and shell, "//" else.
const KEYWORDS = new Set(("def return if elif else for while in not and or is None True False class import from " +
  "try except finally raise with as pass break continue lambda yield async await const let var function new " +
  "this null true false int char void long double float bool auto struct static namespace include").split(" "));
const TOKEN_REST = String.raw`|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|\b(\d+(?:\.\d+)?)\b|\b([A-Za-z_]\w*)\b`;
const HASH_COMMENTS = new RegExp(String.raw`(#.*$)` + TOKEN_REST, "g");
const SLASH_COMMENTS = new RegExp(String.raw`(\/\/.*$)` + TOKEN_REST, "g");
const HASH_FILES = /\.(py|sh|bash|rb|pl|ya?ml|toml|cmake|mk)$|(^|\/)(Makefile|CMakeLists\.txt|Dockerfile)$/;

function highlight(code, into, tokens) {
  let at = 0;
  for (const m of code.matchAll(tokens)) {
    const cls = m[1] ? "com" : m[2] ? "str" : m[3] ? "num" : KEYWORDS.has(m[4]) ? "kw" : "";
    if (!cls) continue;
    into.append(code.slice(at, m.index), text("span", m[0], cls));
    at = m.index + m[0].length;
  }
  into.append(code.slice(at));
}

function renderDiff(patch) {
  const out = $("diff");
  out.replaceChildren();
  let tokens = SLASH_COMMENTS;
  for (const line of patch.split("\n")) {
    if (line.startsWith("+++ ")) tokens = HASH_FILES.test(line.slice(4)) ? HASH_COMMENTS : SLASH_COMMENTS;
    let cls = "";
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") || line.startsWith("index ")) cls = "file";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    const row = text("div", "", cls);
    if (cls === "file" || cls === "hunk" || !line) row.textContent = line || " ";
    else { row.append(line[0]); highlight(line.slice(1), row, tokens); }
    out.append(row);
  }
}

async function showResult(id) {
  const [patch, report] = await Promise.all([api(`/v1/jobs/${id}/patch`), api(`/v1/jobs/${id}/report`)]);
  if (id !== selected) return;
  if (patch.ok) renderDiff(await patch.text() || "(no changes)");
  if (report.ok) $("report").textContent = JSON.stringify(await report.json(), null, 2);
}

function describe(e) {
  const d = e.data || {};
  switch (e.type) {
    case "model_reply": return `step ${d.step}: ${(d.tool_calls || []).map((c) => c.name).join(", ") || "reply"} (${Math.round(d.duration_ms || 0)} ms)`;
    case "tool_result": return `${d.name} ${d.ok ? "ok" : "failed"} (${Math.round(d.duration_ms || 0)} ms)`;
    case "job_end": return `${d.status}: ${d.summary || ""}`;
    default: return d.summary || d.text || d.reason || "";
  }
}

function oneLine(s) {
  s = String(s).split("\n")[0];
  return s.length > 160 ? s.slice(0, 160) + "…" : s;
}

// SSE over fetch (EventSource cannot send the Authorization header).
async function follow(id) {
  if (stream) stream.abort();
  stream = new AbortController();
  const timeline = $("timeline");
  timeline.replaceChildren();
  try {
    const res = await api(`/v1/jobs/${id}/events`, { signal: stream.signal });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (!data) continue;
        const e = JSON.parse(data);
        const row = document.createElement("div");
        row.dataset.type = e.type;
        row.append(text("span", `#${e.seq} ${e.type}`), oneLine(describe(e)));
        timeline.append(row);
        timeline.scrollTop = timeline.scrollHeight;
        if (e.type === "job_end") { showResult(id); refreshJobs(); }
      }
    }
  } catch (e) { if (e.name !== "AbortError") $("error").textContent = String(e); }
}

async function select(id) {
  selected = id;
  $("job-title").textContent = "Job " + id;
  $("diff").textContent = "";
  $("report").textContent = "";
  const res = await api(`/v1/jobs/${id}`);
  if (res.ok) {
    const job = await res.json();
    $("summary").textContent = `${job.status} · ${job.recipe} · ${job.repo}` + (job.summary ? ` · ${job.summary}` : "");
  }
  refreshJobs();
  follow(id);
}

$("connect").onclick = () => {
  token = $("token").value;
  sessionStorage.setItem("nagent-token", token);
  refreshJobs();
};
refreshJobs();
if (selected) select(selected);
setInterval(refreshJobs, 2000);
</script>
</body>
</html>
)html";
}

}  // namespace nagent::serve
