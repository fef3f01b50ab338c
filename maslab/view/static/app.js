// maslab view: the page. Plain JavaScript, no library, nothing loaded from anywhere but this server.
// Routes (in the URL's hash): #/ the grid · #/cell?id=CELL&… a cell's tasks · #/task?cell=CELL&task=ID one task.
// All data text is inserted with textContent; only the server-drawn graph SVG is inserted as markup.
"use strict";

const POLL_MS = 2000;
const state = { version: null, grid: null, refresh: null, gridSort: { key: null, desc: false } };

// ------------------------------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

async function api(path, params) {
  const query = params ? "?" + new URLSearchParams(params) : "";
  const r = await fetch(path + query, { cache: "no-store" });
  const data = await r.json();
  if (!r.ok) { const err = new Error(data.error || r.statusText); err.status = r.status; throw err; }
  return data;
}

function route() {
  const h = location.hash.replace(/^#/, "") || "/";
  const i = h.indexOf("?");
  return { path: i < 0 ? h : h.slice(0, i), params: new URLSearchParams(i < 0 ? "" : h.slice(i + 1)) };
}

function href(path, params) {
  const q = new URLSearchParams(params).toString();
  return "#" + path + (q ? "?" + q : "");
}

const plural = (n, word) => `${num(n, 0)} ${word}${n === 1 ? "" : "s"}`;
const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(1));
const num = (x, d = 1) => (x === null || x === undefined ? "—" : Number(x).toLocaleString("en", { maximumFractionDigits: d }));

function crumbs(...items) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...items.flatMap((it, i) => [i ? el("span", { class: "sep", text: "›" }) : null,
    it.href ? el("a", { href: it.href, text: it.text }) : el("span", { text: it.text })]).filter(Boolean));
}

function main(...children) {
  document.getElementById("main").replaceChildren(...children.filter(Boolean));
}

function verdictBadge(v) {
  return el("span", { class: "verdict v-" + v, text: v === "not_right" ? "not right" : v });
}

function showError(e) {
  main(el("div", { class: "error-box", role: "alert" }, el("strong", { text: "Cannot show this page: " }),
    el("span", { text: e.message || String(e) })));
}

function cellLabel(c) {
  return [c.method_label, c.assignment, c.dataset, c.seed === null || c.seed === undefined ? "" : `seed ${c.seed}`]
    .filter(Boolean).join(" · ");
}

async function grid(force) {
  if (!state.grid || force) state.grid = await api("/api/summary");
  return state.grid;
}

// ------------------------------------------------------------------------------------------- polling

async function poll() {
  try {
    const v = await api("/api/version");
    document.body.dataset.rows = v.rows;
    if (state.version !== null && v.version !== state.version) {
      state.version = v.version;
      await grid(true);
      liveLine();
      if (state.refresh) await state.refresh();
    } else {
      state.version = v.version;
    }
    document.body.dataset.version = v.version;
  } catch (e) {
    document.getElementById("live").textContent = "server unreachable";
  }
}

function liveLine() {
  const g = state.grid;
  if (!g) return;
  const live = document.getElementById("live");
  live.textContent = g.in_progress ? `● ${g.rows} of ${g.planned} rows · refreshing as rows land` : plural(g.rows, "row");
  live.className = g.in_progress ? "in-progress" : "";
}

// ----------------------------------------------------------------------------------------------- grid

const GRID_COLUMNS = [
  { key: "method_label", label: "method", text: (c) => c.method_label },
  { key: "assignment", label: "assignment", text: (c) => c.assignment },
  { key: "dataset", label: "dataset", text: (c) => c.dataset },
  { key: "seed", label: "seed", text: (c) => (c.seeds ? c.seeds.join(",") + " pooled" : String(c.seed)), num: true },
  { key: "n", label: "n", text: (c) => (c.n_planned && c.n_planned !== c.n ? `${c.n}/${c.n_planned}` : String(c.n)), num: true },
  { key: "accuracy", label: "accuracy % [95% CI]", num: true, cell: accuracyCell },
  { key: "accuracy_valid", label: "valid-only %", text: (c) => pct(c.accuracy_valid), num: true },
  { key: "errors", label: "errors", text: (c) => (c.errors === undefined ? "—" : c.errors + (c.score_errors ? ` (+${c.score_errors} scoring)` : "")), num: true },
  { key: "tokens_per_task", label: "tokens/task", text: (c) => num(c.tokens_per_task, 0), num: true },
  { key: "calls_per_task", label: "calls/task", text: (c) => num(c.calls_per_task, 1), num: true },
  { key: "latency_mean_s", label: "latency s (p95)", text: (c) => (c.latency_mean_s === undefined ? "—" : `${num(c.latency_mean_s, 2)} (${num(c.latency_p95_s, 2)})`), num: true },
  { key: "total_tokens", label: "cost: tokens · model s", text: (c) => (c.total_tokens === undefined ? "—" : `${num(c.total_tokens, 0)} · ${num(c.model_seconds, 1)}`), num: true },
  { key: "cache_hits", label: "cache hits", text: (c) => num(c.cache_hits, 0), num: true },
];

function accuracyCell(c) {
  if (c.pending) return el("td", { class: "num muted", text: "pending" });
  if (c.unscored) return el("td", { class: "num muted", text: "not scored" });
  const bar = el("span", { class: "bar" }, el("span", { class: "fill" }));
  bar.firstChild.style.width = `${Math.round(100 * c.accuracy)}%`;
  return el("td", { class: "num acc" }, bar, el("span", { text: `${pct(c.accuracy)} [${pct(c.ci_low)}, ${pct(c.ci_high)}]` }));
}

function sortValue(c, key) {
  const v = c[key];
  return v === null || v === undefined ? -Infinity : v;
}

function gridTable(rows, id, clickable) {
  const sort = state.gridSort;
  const sorted = [...rows];
  if (sort.key) {
    sorted.sort((a, b) => {
      const x = sortValue(a, sort.key), y = sortValue(b, sort.key);
      const r = typeof x === "string" || typeof y === "string" ? String(x).localeCompare(String(y)) : x - y;
      return sort.desc ? -r : r;
    });
  }
  const head = el("tr", null, GRID_COLUMNS.map((col) => el("th", {
    class: (col.num ? "num " : "") + "sortable" + (sort.key === col.key ? (sort.desc ? " desc" : " asc") : ""),
    data: { key: col.key }, title: "sort",
    onclick: () => {
      state.gridSort = { key: col.key, desc: sort.key === col.key ? !sort.desc : false };
      renderGridTables();
    },
  }, col.label)));
  const body = sorted.map((c) => {
    const tr = el("tr", { data: { cellId: c.cell_id || "" }, class: (clickable ? "link" : "pooled") + (c.pending ? " pending" : "") },
      GRID_COLUMNS.map((col) => (col.cell ? col.cell(c) : el("td", { class: col.num ? "num" : "", text: col.text(c) }))));
    if (clickable) {
      tr.addEventListener("click", () => { location.hash = href("/cell", { id: c.cell_id }); });
      tr.firstChild.replaceChildren(el("a", { href: href("/cell", { id: c.cell_id }), text: c.method_label }));
    }
    return tr;
  });
  return el("table", { id, class: "grid" }, el("thead", null, head), el("tbody", null, body));
}

function renderGridTables() {
  const g = state.grid;
  const ds = document.getElementById("dataset-filter");
  const want = ds ? ds.value : "";
  const cells = g.cells.filter((c) => !want || c.dataset === want);
  const pooled = g.pooled.filter((c) => !want || c.dataset === want);
  const holder = document.getElementById("grid-tables");
  holder.replaceChildren(
    gridTable(cells, "grid", true),
    pooled.length ? el("h2", { text: "Pooled over seeds" }) : null,
    pooled.length ? gridTable(pooled, "pooled", false) : null,
  );
}

async function renderGrid() {
  crumbs({ text: "grid" });
  const g = await grid(true);
  liveLine();
  if (g.kind === "run") {  // a single run: its one task is the page
    const rows = await api("/api/rows", { cell: "run", limit: 1 });
    if (rows.rows.length) { location.replace(href("/task", { cell: "run", task: rows.rows[0].task_id })); return; }
  }
  const datasets = [...new Set(g.cells.map((c) => c.dataset))].sort();
  const select = el("select", { id: "dataset-filter", onchange: renderGridTables },
    el("option", { value: "", text: "all datasets" }), datasets.map((d) => el("option", { value: d, text: d })));
  main(
    el("h1", { text: g.title }),
    el("p", { id: "grid-note", class: "muted", text: gridNote(g) }),
    el("div", { class: "controls" }, el("label", null, "dataset ", select)),
    el("div", { id: "grid-tables" }),
  );
  renderGridTables();
  state.refresh = async () => {
    document.getElementById("grid-note").textContent = gridNote(state.grid);
    renderGridTables();
  };
}

function gridNote(g) {
  return `${g.dir} — ${g.cells.length} cells, ${g.rows} rows` +
    (g.in_progress ? ` of ${g.planned} planned (running: this page refreshes as rows land)` : "") +
    ". Accuracy counts inference and scoring errors as wrong; 95 % Wilson intervals. Click a header to sort, a row for its tasks.";
}

// ----------------------------------------------------------------------------------------- cell page

const ROW_COLUMNS = [
  { key: "task", label: "task", sort: "task" },
  { key: "verdict", label: "verdict", sort: "status" },
  { key: "extracted", label: "extracted" },
  { key: "reference", label: "reference" },
  { key: "question", label: "question" },
  { key: "tokens", label: "tokens", sort: "tokens", num: true },
  { key: "calls", label: "calls", sort: "calls", num: true },
  { key: "latency_s", label: "latency s", sort: "latency", num: true },
];

async function renderCell(params) {
  const g = await grid(false);
  liveLine();
  const id = params.get("id");
  const cell = g.cells.find((c) => c.cell_id === id);
  if (!cell) throw new Error(`no cell ${id} in this run`);
  crumbs({ text: "grid", href: "#/" }, { text: cellLabel(cell) });
  const f = {
    status: params.get("status") || "all", q: params.get("q") || "", b: params.get("b") || "",
    pair: params.get("pair") || "", sort: params.get("sort") || "task", desc: params.get("desc") || "",
    offset: Number(params.get("offset") || 0), limit: Number(params.get("limit") || 50),
  };
  const others = g.cells.filter((c) => c.cell_id !== id).sort((a, b) => (a.dataset === cell.dataset ? 0 : 1) - (b.dataset === cell.dataset ? 0 : 1));
  const status = el("select", { id: "status" }, [["all", "all"], ["right", "right"], ["wrong", "wrong answers"], ["error", "errors"], ["not_right", "not right (wrong or error)"]]
    .map(([v, t]) => el("option", { value: v, text: t, selected: v === f.status })));
  const search = el("input", { id: "search", type: "search", placeholder: "text in question, answer, id…", value: f.q });
  const compare = el("select", { id: "compare" }, el("option", { value: "", text: "— none —" }),
    others.map((c) => el("option", { value: c.cell_id, text: cellLabel(c), selected: c.cell_id === f.b })));
  const pair = el("select", { id: "pair" }, [["", "any"], ["a_right_b_wrong", "A right, B wrong"], ["a_wrong_b_right", "A wrong, B right"], ["both_right", "both right"], ["both_wrong", "both wrong"]]
    .map(([v, t]) => el("option", { value: v, text: t, selected: v === f.pair })));
  const limit = el("select", { id: "limit" }, [25, 50, 100, 200, 500].map((n) => el("option", { value: n, text: n, selected: n === f.limit })));
  const exportCsv = el("a", { id: "export-csv", class: "button", text: "export CSV", download: "" });
  const range = el("span", { id: "range", class: "muted" });
  const prev = el("button", { id: "prev", text: "‹ previous" });
  const next = el("button", { id: "next", text: "next ›" });
  const table = el("table", { id: "rows", class: "rows" });
  const acc = cell.pending ? "pending" : cell.unscored ? "not scored" : `${pct(cell.accuracy)} % [${pct(cell.ci_low)}, ${pct(cell.ci_high)}]`;
  main(
    el("h1", { text: cellLabel(cell) }),
    el("p", { class: "muted" }, `cell ${id} — accuracy ${acc} over ${cell.n} rows` + (cell.errors ? `, ${cell.errors} errors` : "")),
    el("div", { class: "controls" },
      el("label", null, "show ", status), el("label", null, "search ", search),
      el("label", null, "compare with B ", compare), el("label", null, "pair ", pair),
      el("label", null, "per page ", limit), exportCsv),
    table,
    el("div", { class: "pager" }, prev, range, next),
  );

  function query() {
    const q = { cell: id, status: f.status, q: f.q, sort: f.sort };
    if (f.desc) q.desc = "1";
    if (f.b) { q.b = f.b; if (f.pair) q.pair = f.pair; }
    return q;
  }
  function syncUrl() {
    const p = { id };
    for (const k of ["status", "q", "b", "pair", "sort", "desc"]) if (f[k] && !(k === "status" && f[k] === "all") && !(k === "sort" && f[k] === "task")) p[k] = f[k];
    if (f.offset) p.offset = f.offset;
    if (f.limit !== 50) p.limit = f.limit;
    history.replaceState(null, "", href("/cell", p));
  }
  async function load() {
    pair.disabled = !f.b;
    exportCsv.href = "/api/rows.csv?" + new URLSearchParams(query());
    const page = await api("/api/rows", { ...query(), offset: f.offset, limit: f.limit });
    if (page.offset >= page.total && page.total > 0) { f.offset = 0; return load(); }
    const cols = f.b ? [...ROW_COLUMNS, { key: "b", label: "B verdict" }, { key: "b_extracted", label: "B extracted" }] : ROW_COLUMNS;
    const head = el("tr", null, cols.map((c) => el("th", {
      class: (c.num ? "num " : "") + (c.sort ? "sortable" : "") + (c.sort && f.sort === c.sort ? (f.desc ? " desc" : " asc") : ""),
      onclick: c.sort ? () => { f.desc = f.sort === c.sort && !f.desc ? "1" : ""; f.sort = c.sort; f.offset = 0; syncUrl(); load(); } : null,
    }, c.label)));
    const body = page.rows.map((r) => {
      const to = href("/task", { cell: id, task: r.task_id });
      const cells = {
        task: el("td", null, el("a", { href: to, text: r.task_id })),
        verdict: el("td", null, verdictBadge(r.verdict), r.error ? el("span", { class: "err-text", text: " " + r.error }) : null),
        extracted: el("td", { class: "mono", text: r.extracted ?? "" }),
        reference: el("td", { class: "mono", text: r.reference ?? "" }),
        question: el("td", { class: "question", text: r.question ?? "" }),
        tokens: el("td", { class: "num", text: num(r.tokens, 0) }),
        calls: el("td", { class: "num", text: String(r.calls) }),
        latency_s: el("td", { class: "num", text: num(r.latency_s, 2) }),
        b: el("td", null, r.b ? verdictBadge(r.b.verdict) : el("span", { class: "muted", text: "not run" })),
        b_extracted: el("td", { class: "mono", text: r.b ? r.b.extracted ?? "" : "" }),
      };
      const tr = el("tr", { class: "link", data: { taskId: r.task_id, verdict: r.verdict } }, cols.map((c) => cells[c.key]));
      tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") location.hash = to; });
      return tr;
    });
    table.replaceChildren(el("thead", null, head), el("tbody", null, body.length ? body : [el("tr", null, el("td", { colspan: cols.length, class: "muted", text: "no task matches" }))]));
    table.dataset.total = page.total;
    range.textContent = page.total ? `${page.offset + 1}–${page.offset + page.rows.length} of ${page.total}` : "0 of 0";
    prev.disabled = page.offset === 0;
    next.disabled = page.offset + page.rows.length >= page.total;
  }
  let timer = null;
  status.onchange = () => { f.status = status.value; f.offset = 0; syncUrl(); load(); };
  compare.onchange = () => { f.b = compare.value; if (!f.b) f.pair = ""; pair.value = f.pair; f.offset = 0; syncUrl(); load(); };
  pair.onchange = () => { f.pair = pair.value; f.offset = 0; syncUrl(); load(); };
  limit.onchange = () => { f.limit = Number(limit.value); f.offset = 0; syncUrl(); load(); };
  search.oninput = () => { clearTimeout(timer); timer = setTimeout(() => { f.q = search.value; f.offset = 0; syncUrl(); load(); }, 250); };
  prev.onclick = () => { f.offset = Math.max(0, f.offset - f.limit); syncUrl(); load(); };
  next.onclick = () => { f.offset += f.limit; syncUrl(); load(); };
  state.refresh = load;
  await load();
}

// ----------------------------------------------------------------------------------------- task page

function messageText(m) {
  let text = "";
  if (Array.isArray(m.content)) {
    text = m.content.map((p) => (p.type === "text" ? p.text : `[image: ${p.path || p.url || `${p.media_type}, ${p.bytes} bytes, sha256 ${String(p.sha256).slice(0, 16)}…`}]`)).join("");
  } else text = m.content || "";
  const calls = (m.tool_calls || []).map((c) => `→ ${c.name}(${c.arguments})`);
  return [text, ...calls].filter(Boolean).join("\n");
}

function turnCard(t, started) {
  const facts = [
    el("span", { class: "idx", text: `#${t.index}` }),
    el("span", { class: "agent", text: t.agent }),
    el("span", { class: "role", text: `role ${t.role}` }),
    el("span", { class: "alias", text: t.alias }),
    el("span", { class: "tokens", text: `${t.prompt_tokens}+${t.completion_tokens} tok` }),
    el("span", { class: "latency", text: `${Number(t.latency_s).toFixed(2)} s` }),
    t.cache_hit ? el("span", { class: "badge cache", text: "cache hit" }) : null,
    t.retries ? el("span", { class: "badge retry", text: `${t.retries} ${t.retries === 1 ? "retry" : "retries"}` }) : null,
    t.t && started ? el("span", { class: "clock", title: "finished, seconds after the run started", text: `+${(t.t - started).toFixed(2)} s` }) : null,
  ];
  const saw = t.messages === null || t.messages === undefined
    ? el("p", { class: "muted", text: "The messages this call saw were not recorded (a trace written before maslab recorded them)." })
    : el("details", { class: "saw" }, el("summary", { text: `saw ${t.messages.length} message${t.messages.length === 1 ? "" : "s"}` }),
      t.messages.map((m) => el("div", { class: "msg", data: { role: m.role } },
        el("div", { class: "msg-role", text: m.role + (m.name ? ` (${m.name})` : "") }), el("pre", { text: messageText(m) }))));
  const reply = t.reply ? el("div", { class: "reply" }, el("div", { class: "msg-role", text: "reply" }), el("pre", { text: messageText(t.reply) })) : null;
  const calls = t.reply && t.reply.tool_calls && t.reply.tool_calls.length
    ? el("ul", { class: "tool-calls" }, t.reply.tool_calls.map((c) => el("li", null, el("code", { text: `${c.name}(${c.arguments})` })))) : null;
  return el("article", { class: "turn", tabindex: "0", data: { node: t.node || "", agent: t.agent, index: t.index } },
    el("header", null, facts), saw, reply, calls);
}

function itemCard(it, started) {
  if (it.kind === "call") return turnCard(it, started);
  if (it.kind === "tool") {
    return el("article", { class: "tool", data: { node: it.node || "", agent: it.agent } },
      el("header", null, el("span", { class: "badge tool-badge", text: "tool" }), el("code", { text: `${it.tool}(${it.arguments})` }), el("span", { class: "muted", text: ` run by ${it.agent}` })),
      el("pre", { text: it.result }));
  }
  if (it.kind === "error") {
    return el("article", { class: "failure", data: { node: it.node || "" } },
      el("header", null, el("span", { class: "badge err", text: "error" }), el("span", { text: " " + [it.node ? `node ${it.node}` : "outside the graph", it.agent ? `agent ${it.agent}` : "", it.alias ? `alias ${it.alias}` : ""].filter(Boolean).join(", ") })),
      el("pre", { text: it.error }));
  }
  return el("article", { class: "event", data: { node: it.node || "" } },
    el("header", null, el("span", { class: "badge", text: it.event })), el("pre", { text: JSON.stringify(it.fields, null, 1).slice(0, 4000) }));
}

function highlight(node, turn) {
  document.querySelectorAll(".graph .node.active").forEach((n) => n.classList.remove("active"));
  document.querySelectorAll(".turn.selected").forEach((n) => n.classList.remove("selected"));
  if (turn) turn.classList.add("selected");
  if (!node) return;
  const g = [...document.querySelectorAll(".graph .node")].find((n) => n.dataset.node === node);
  if (g) g.classList.add("active");
  const label = document.getElementById("graph-current");
  if (label) label.textContent = `node: ${node}`;
}

async function renderTask(params) {
  const cellId = params.get("cell"), taskId = params.get("task");
  const g = await grid(false);
  liveLine();
  const cell = g.cells.find((c) => c.cell_id === cellId);
  crumbs({ text: "grid", href: "#/" }, { text: cell ? cellLabel(cell) : cellId, href: href("/cell", { id: cellId }) }, { text: taskId });
  let data;
  try {
    data = await api("/api/task", { cell: cellId, task: taskId });
  } catch (e) {
    if (e.status === 404) {
      main(el("p", { class: "muted", text: `Task ${taskId} has not finished in this cell yet; this page refreshes when it does.` }));
      state.refresh = () => renderTask(params);
      return;
    }
    throw e;
  }
  state.refresh = null;  // a finished task does not change; keep what the reader opened
  const r = data.row;
  const summary = el("section", { id: "task-summary", class: "card" },
    el("div", { class: "facts" }, verdictBadge(r.verdict),
      r.verdict !== "unscored" ? el("span", { text: `score ${Number(r.score).toFixed(3)}` }) : null,
      r.extracted ? el("span", null, "extracted ", el("code", { text: r.extracted })) : null,
      r.reference !== null ? el("span", null, "reference ", el("code", { text: r.reference })) : null,
      el("span", { text: `${plural(r.calls, "call")} · ${plural(r.prompt_tokens + r.completion_tokens, "token")} · ${num(r.latency_s, 2)} model s` + (r.cache_hits ? ` · ${plural(r.cache_hits, "cache hit")}` : "") }),
      r.attempts > 1 ? el("span", { text: `attempt ${r.attempts}` }) : null,
      el("a", { id: "export-md", class: "button", href: "/api/task.md?" + new URLSearchParams({ cell: cellId, task: taskId }), download: "", text: "export Markdown" })),
    el("h2", { text: "Question" }), el("pre", { id: "question", text: r.question }),
    el("h2", { text: "Answer" }), el("pre", { id: "answer", text: r.answer ?? "(no answer)" }),
    r.error ? el("div", { class: "error-box", id: "row-error", role: "alert" }, el("strong", { text: r.status === "score_error" ? "Scoring failed: " : "Failed: " }),
      el("span", { text: r.error }),
      data.where.length ? el("ul", null, data.where.map((w) => el("li", { class: "where", text: `where: ${w.where}` + (w.error !== r.error ? ` — ${w.error}` : "") }))) : null) : null,
    data.others.length ? el("div", { class: "others" }, el("span", { class: "muted", text: "this task in other cells: " }),
      data.others.map((o) => el("a", { class: "chip", href: href("/task", { cell: o.cell_id, task: taskId }) }, verdictBadge(o.verdict), ` ${o.method_label} · ${o.assignment} · seed ${o.seed}`))) : null,
  );
  const t = data.transcript;
  const timeline = el("section", { id: "timeline" });
  if (!t) timeline.append(el("p", { class: "muted", text: "No trace found for this task (its trace file is missing)." }));
  else {
    const turns = t.groups.reduce((n, gr) => n + gr.items.filter((i) => i.kind === "call").length, 0);
    timeline.append(el("h2", { text: `Transcript — ${plural(turns, "turn")} in ${plural(t.groups.length, "group")}` + (t.method ? ` (${t.method})` : "") }));
    if (t.attempts > 1) timeline.append(el("p", { class: "muted", text: `Attempt ${t.attempt} of ${t.attempts}; earlier attempts are not shown.` }));
    if (!t.finished && !r.error) timeline.append(el("p", { class: "muted", text: "The trace has no end line: the run was interrupted or is still being written." }));
    for (const gr of t.groups) {
      const head = el("h3", { class: "group-title" }, gr.node === null ? "outside the graph" : `step ${gr.step} · ${gr.node}` + (gr.visit > 1 ? ` (visit ${gr.visit})` : ""),
        el("span", { class: "muted", text: ` — ${gr.items.length} item${gr.items.length === 1 ? "" : "s"}` }));
      const section = el("section", { class: "group", data: { node: gr.node || "", step: gr.step ?? "" } }, head, gr.items.map((it) => itemCard(it, t.started)));
      head.addEventListener("click", () => highlight(gr.node, null));
      timeline.append(section);
    }
  }
  const graphPanel = el("aside", { id: "graph-panel", class: "card" }, el("h2", { text: "Graph" }),
    el("div", { id: "graph-current", class: "muted", text: "click a turn to see its node" }));
  if (data.graph && data.graph.svg) {
    const holder = el("div", { id: "graph" });
    holder.innerHTML = data.graph.svg;  // drawn and escaped by the server (maslab.drawing.svg)
    graphPanel.append(holder);
  }
  graphPanel.append(el("p", { class: "muted small", text: data.graph ? data.graph.note : "" }));
  main(summary, el("div", { class: "task-body" }, timeline, graphPanel));

  const visited = new Set(t ? t.groups.map((gr) => gr.node).filter(Boolean) : []);
  const failed = new Set(data.where.map((w) => w.node).filter(Boolean));
  document.querySelectorAll(".graph .node").forEach((n) => {
    if (visited.has(n.dataset.node)) n.classList.add("visited");
    if (failed.has(n.dataset.node)) n.classList.add("failed");
    n.addEventListener("click", () => {
      const target = [...document.querySelectorAll(".group")].find((s) => s.dataset.node === n.dataset.node);
      highlight(n.dataset.node, null);
      if (target) target.scrollIntoView({ behavior: "smooth", block: "start" });
    });
  });
  document.querySelectorAll(".turn").forEach((card) => {
    const pick = () => highlight(card.dataset.node, card);
    card.addEventListener("click", pick);
    card.addEventListener("focus", pick);
  });
}

// ----------------------------------------------------------------------------------------------- main

async function render() {
  state.refresh = null;
  const { path, params } = route();
  try {
    if (path === "/" || path === "") await renderGrid();
    else if (path === "/cell") await renderCell(params);
    else if (path === "/task") await renderTask(params);
    else throw new Error(`no page ${path}`);
  } catch (e) {
    showError(e);
  }
  document.body.dataset.page = path.replace("/", "") || "grid";
  document.body.dataset.ready = "1";
}

window.addEventListener("hashchange", () => { document.body.dataset.ready = ""; window.scrollTo(0, 0); render(); });
document.addEventListener("DOMContentLoaded", () => { render(); setInterval(poll, POLL_MS); poll(); });
