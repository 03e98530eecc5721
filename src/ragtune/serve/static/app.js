// ragtune web page: ask several pipelines one question, manage knowledge bases, open reports.
// Plain JavaScript, no build step and no outside requests. Text from the server is always set
// with textContent, never parsed as HTML.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

// ---- API access -------------------------------------------------------------------------------
const KEY = "ragtune.apiKey";
const apiKey = () => localStorage.getItem(KEY) || "";

function headers(extra = {}) {
  const h = { ...extra };
  if (apiKey()) h.Authorization = "Bearer " + apiKey();
  return h;
}

class ApiError extends Error {
  constructor(status, message, code) { super(message); this.status = status; this.code = code; }
}

async function failure(res) {
  let msg = `${res.status} ${res.statusText}`;
  let code = null;
  try { const body = await res.json(); msg = body.error?.message || msg; code = body.error?.code; } catch (_) { /* not JSON */ }
  if (res.status === 401) showKeyForm();
  return new ApiError(res.status, msg, code);
}

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: headers(opts.headers) });
  if (!res.ok) throw await failure(res);
  return res.json();
}

function notify(message, kind = "error") {
  const n = $("#notice");
  n.textContent = message;
  n.className = "notice" + (kind === "info" ? " info" : "");
  n.hidden = !message;
}

// ---- tabs and key -----------------------------------------------------------------------------
function showTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== "tab-" + name;
  if (name === "kbs") loadKbs();
  if (name === "reports") loadReports();
  history.replaceState(null, "", "#" + name);
}

function showKeyForm() { $("#key-form").hidden = false; $("#key-input").focus(); }

function setupKey() {
  $("#key-toggle").addEventListener("click", () => { const f = $("#key-form"); f.hidden = !f.hidden; });
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(KEY, $("#key-input").value.trim());
    $("#key-input").value = "";
    $("#key-form").hidden = true;
    notify("");
    loadPipelines();
  });
  $("#key-clear").addEventListener("click", () => { localStorage.removeItem(KEY); notify("API key forgotten", "info"); });
}

// ---- pipelines and answers --------------------------------------------------------------------
let pipelines = [];

async function loadPipelines(preselect) {
  const box = $("#pipeline-list");
  try {
    const data = await api("/v1/models");
    pipelines = data.data.filter((m) => m.ragtune?.task !== "classify");
  } catch (e) {
    box.replaceChildren(el("span", { class: "hint" }, "cannot list pipelines: " + e.message));
    return;
  }
  const before = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  const wanted = preselect ? new Set(preselect) : before;
  if (!wanted.size) {  // a first visit: the first knowledge base against the model alone
    const rag = pipelines.find((p) => p.ragtune?.mode === "rag");
    if (rag) wanted.add(rag.id);
    wanted.add("base");
    const ft = pipelines.find((p) => p.ragtune?.mode === "ft");
    if (ft) wanted.add(ft.id);
  }
  box.replaceChildren(...pipelines.map((p) =>
    el("label", { class: "chip", title: describe(p) },
      el("input", { type: "checkbox", value: p.id, ...(wanted.has(p.id) ? { checked: "" } : {}) }), p.id)));
  if (!pipelines.length) box.replaceChildren(el("span", { class: "hint" }, "no pipelines"));
}

function describe(p) {
  const r = p.ragtune || {};
  return { base: "the model alone, closed-book", rag: `retrieval from ${r.kb}`, ft: `fine-tuned ${r.model}, closed-book`,
           "ft+rag": `fine-tuned ${r.model} with retrieval from ${r.kb}`, raft: `RAFT-trained ${r.model} on ${r.kb}` }[r.mode] || p.id;
}

function parseEvents(buffer, onEvent) {
  // Server-sent events: blocks separated by a blank line, payload lines start with "data:".
  let idx;
  while ((idx = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, idx);
    buffer = buffer.slice(idx + 2);
    const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
    if (data) onEvent(data);
  }
  return buffer;
}

// One conversation per pipeline: each question is sent with that pipeline's earlier turns.
const conversations = {};

function newConversation() {
  for (const k of Object.keys(conversations)) delete conversations[k];
  $("#answers").replaceChildren();
  $("#turns").textContent = "";
}

async function askOne(pipeline, question, opts, card) {
  const text = $(".text", card);
  const badge = $(".badge", card);
  const t0 = performance.now();
  let firstMs = null;
  let final = null;
  card.classList.add("busy");
  badge.textContent = "waiting";
  const history = conversations[pipeline] || [];
  const body = { model: pipeline, stream: true, messages: [...history, { role: "user", content: question }],
                 max_tokens: opts.maxTokens, stream_options: { include_usage: true } };
  if (opts.topK) body.top_k = opts.topK;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body) });
    if (!res.ok) throw await failure(res);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), (data) => {
        if (data === "[DONE]") return;
        const ev = JSON.parse(data);
        if (ev.error) throw new ApiError(500, ev.error.message, ev.error.code);
        const choice = ev.choices && ev.choices[0];
        if (choice?.delta?.content) {
          if (firstMs === null) { firstMs = performance.now() - t0; badge.textContent = "streaming"; }
          text.textContent += choice.delta.content;
        }
        if (choice?.finish_reason) final = ev;
      });
    }
    if (!final) throw new Error("the stream ended without an answer");
    conversations[pipeline] = [...history, { role: "user", content: question },
                               { role: "assistant", content: text.textContent }];
    badge.textContent = final.ragtune?.abstained ? "abstained" : "done";
    badge.className = "badge ok";
    showMeta(card, final, performance.now() - t0, firstMs);
    showCitations(card, final.citations || []);
  } catch (e) {
    card.classList.add("failed");
    badge.textContent = "error";
    badge.className = "badge err";
    text.textContent = e.message;
  } finally {
    card.classList.remove("busy");
  }
}

function showMeta(card, final, totalMs, firstMs) {
  const r = final.ragtune || {};
  const u = r.usage || {};
  const parts = [`${(totalMs / 1000).toFixed(2)} s total`];
  if (firstMs !== null) parts.push(`first token ${(firstMs / 1000).toFixed(2)} s`);
  parts.push(`${u.prompt_tokens ?? 0} prompt + ${u.completion_tokens ?? 0} answer tokens`);
  const t = r.timings || {};
  if (t.retrieve_ms !== undefined) parts.push(`retrieval ${t.retrieve_ms.toFixed(0)} ms`);
  if (t.prompt_ms !== undefined) parts.push(`prompt read ${t.prompt_ms.toFixed(0)} ms`);
  if (t.decode_ms !== undefined) parts.push(`generation ${t.decode_ms.toFixed(0)} ms`);
  if (t.decode_tok_s) parts.push(`${t.decode_tok_s.toFixed(0)} tok/s`);
  if (r.kb) parts.push(`${r.kb} v${r.kb_version}`);
  if (r.trimmed_messages) parts.push(`${r.trimmed_messages} oldest messages left out to fit`);
  $(".meta", card).textContent = parts.join(" · ");
  $(".query", card).textContent = r.search_query ? `searched for: ${r.search_query}` : "";
}

const HOW = { model: " · cited by the model", attributed: " · attributed", unsupported: " · cited, unsupported" };

// The passage with its supporting spans (character offsets into the chunk) in <mark>.
function highlighted(text, spans) {
  const parts = [];
  let at = 0;
  for (const [s, e] of [...(spans || [])].sort((a, b) => a[0] - b[0])) {
    if (s < at) continue;
    parts.push(text.slice(at, s), el("mark", {}, text.slice(s, e)));
    at = e;
  }
  parts.push(text.slice(at));
  return parts;
}

function showCitations(card, citations) {
  const box = $(".cites", card);
  box.replaceChildren(...citations.map((c) => el("details", {},
    el("summary", {}, el("span", { class: "n" }, `[${c.number}] `), c.title || c.source,
      c.method ? el("span", { class: c.cited ? "cited" : "unsupported" }, HOW[c.method] || "") : "",
      el("span", { class: "src" }, ` · score ${c.score.toFixed(3)}`)),
    el("div", { class: "src" }, `${c.source} · chunk ${c.chunk_id}`),
    el("blockquote", {}, ...highlighted(c.chunk_text || c.text, c.spans)))));
}

async function ask(e) {
  e.preventDefault();
  const question = $("#question").value.trim();
  const chosen = [...document.querySelectorAll("#pipeline-list input:checked")].map((i) => i.value);
  if (!question) return;
  if (!chosen.length) { notify("pick at least one pipeline"); return; }
  notify("");
  const opts = { maxTokens: Number($("#max-tokens").value) || 64, topK: Number($("#top-k").value) || null };
  const area = $("#answers");
  const cards = chosen.map((p) => {
    const card = $("#answer-tpl").content.firstElementChild.cloneNode(true);
    $(".pipe", card).textContent = p;
    $(".pipe", card).title = describe(pipelines.find((x) => x.id === p) || { id: p });
    card.dataset.pipeline = p;
    return card;
  });
  area.replaceChildren(...cards);
  const btn = $("#ask-btn");
  btn.disabled = true;
  try {
    await Promise.all(chosen.map((p, i) => askOne(p, question, opts, cards[i])));
  } finally {
    btn.disabled = false;
    const n = Math.max(0, ...chosen.map((p) => (conversations[p] || []).length / 2));
    $("#turns").textContent = n > 1 ? `conversation: ${n} turns` : "";
  }
}

// ---- knowledge bases --------------------------------------------------------------------------
const fmtTime = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
const fmtSize = (n) => (n > 1048576 ? (n / 1048576).toFixed(1) + " MB" : (n / 1024).toFixed(1) + " KB");

async function loadKbs(select) {
  const sel = $("#kb-select");
  try {
    const data = await api("/v1/kbs");
    const current = select || sel.value || localStorage.getItem("ragtune.kb");
    sel.replaceChildren(...data.data.map((k) => el("option", { value: k.name }, `${k.name} (v${k.version})`)));
    if (current && data.data.some((k) => k.name === current)) sel.value = current;
    if (!data.data.length) { $("#kb-stats").textContent = "no knowledge base yet: create one above"; clearKb(); return; }
    await loadKb(sel.value);
  } catch (e) { notify(e.message); }
}

function clearKb() {
  $("#docs-table tbody").replaceChildren();
  $("#versions-table tbody").replaceChildren();
}

async function loadKb(name) {
  if (!name) return;
  localStorage.setItem("ragtune.kb", name);
  const kb = await api(`/v1/kbs/${encodeURIComponent(name)}`);
  $("#kb-stats").textContent = `version ${kb.version} · ${kb.sources} files · ${kb.documents} documents · ` +
    `${kb.chunks} chunks · ${fmtSize(kb.size_bytes)} · embedder ${kb.embedder}`;
  $("#docs-table tbody").replaceChildren(...kb.documents_list.map((d) => el("tr", {},
    el("td", { title: d.source }, d.name), el("td", {}, d.title), el("td", { class: "num" }, d.chunks),
    el("td", {}, fmtTime(d.ingested_at)),
    el("td", {}, el("button", { type: "button", class: "ghost danger", title: "delete " + d.source,
                                onclick: () => deleteDoc(name, d) }, "Delete")))));
  $("#versions-table tbody").replaceChildren(...kb.versions_list.map((v) => el("tr", {},
    el("td", { class: "num" }, v.version), el("td", {}, fmtTime(v.time)), el("td", { class: "num" }, v.added),
    el("td", { class: "num" }, v.removed), el("td", {}, v.note))));
}

async function deleteDoc(kb, doc) {
  if (!confirm(`Delete ${doc.name} from ${kb}? (earlier versions keep it)`)) return;
  try {
    const res = await api(`/v1/kbs/${encodeURIComponent(kb)}/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
    notify(`deleted ${res.source}: version ${res.version}`, "info");
    await loadKbs(kb);
  } catch (e) { notify(e.message); }
}

async function createKb(e) {
  e.preventDefault();
  const name = $("#kb-new").value.trim();
  if (!name) return;
  try {
    await api("/v1/kbs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
    $("#kb-new").value = "";
    await loadKbs(name);
    loadPipelines();
  } catch (err) { notify(err.message); }
}

async function upload(e) {
  e.preventDefault();
  const kb = $("#kb-select").value;
  const files = $("#upload-files").files;
  if (!kb) { notify("create or pick a knowledge base first"); return; }
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const list = $("#upload-result");
  const btn = $("button[type=submit]", e.target);
  btn.disabled = true;
  list.replaceChildren(el("li", { class: "hint" }, `ingesting ${files.length} file(s)…`));
  try {
    const res = await api(`/v1/kbs/${encodeURIComponent(kb)}/documents`, { method: "POST", body: form });
    list.replaceChildren(...res.files.map((f) => el("li", { class: "status-" + f.status },
      `${f.name}: ${f.status}${f.error ? " (" + f.error + ")" : ""}`)),
      el("li", {}, `version ${res.version} in ${res.seconds.toFixed(1)} s · `,
        el("a", { href: "#compare", onclick: () => { loadPipelines([`rag:${kb}`, "base"]); } }, "ask about it")));
    $("#upload-files").value = "";
    await loadKbs(kb);
  } catch (err) {
    list.replaceChildren(el("li", { class: "status-failed" }, err.message));
  } finally {
    btn.disabled = false;
  }
}

// ---- reports ----------------------------------------------------------------------------------
async function loadReports() {
  const list = $("#report-list");
  try {
    const data = await api("/v1/reports");
    if (!data.data.length) {
      list.replaceChildren(el("li", { class: "hint" }, "no reports yet: run ragtune compare"));
      return;
    }
    list.replaceChildren(...data.data.map((r) => el("li", {},
      el("span", { class: "grow" }, el("strong", {}, r.title), " ",
        el("span", { class: "hint" }, [r.task, (r.modes || []).join(", "), fmtTime(r.created)].filter(Boolean).join(" · "))),
      el("button", { type: "button", onclick: () => openReport(r) }, "Open"))));
  } catch (e) { list.replaceChildren(el("li", { class: "status-failed" }, e.message)); }
}

async function openReport(r) {
  // A frame cannot send the API key, so ask for a short-lived signed link to this report.
  try {
    const link = await api(`/v1/reports/${encodeURIComponent(r.id)}/link`, { method: "POST" });
    $("#report-frame").src = link.url;
    $("#report-open").href = link.url;
    $("#report-title").textContent = r.title;
    $("#report-view").hidden = false;
    $("#report-view").scrollIntoView({ behavior: "smooth" });
  } catch (e) { notify(e.message); }
}

// ---- start ------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  setupKey();
  $("#ask-form").addEventListener("submit", ask);
  $("#new-conversation").addEventListener("click", newConversation);
  $("#question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("#ask-form").requestSubmit();
  });
  $("#kb-select").addEventListener("change", (e) => loadKb(e.target.value).catch((err) => notify(err.message)));
  $("#kb-refresh").addEventListener("click", () => loadKbs());
  $("#kb-create").addEventListener("submit", createKb);
  $("#upload-form").addEventListener("submit", upload);
  $("#report-close").addEventListener("click", () => { $("#report-view").hidden = true; });
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1) || "compare"));
  const start = location.hash.slice(1);
  if (["kbs", "reports"].includes(start)) showTab(start);
  loadPipelines();
  fetch("/health").then((r) => r.json()).then((h) => {
    $("#key-toggle").hidden = !h.auth && !apiKey();
    if (h.auth && !apiKey()) showKeyForm();
  }).catch(() => {});
});
