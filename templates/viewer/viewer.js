/* lightly-runner viewer: plain JS, no build step. All data comes from /_lightly/api/.
 * DOM is built with textContent only (file names are never parsed as HTML). */
"use strict";

const API = "/_lightly/api/";
const FILTER_LABELS = {
  all: "All", selected: "Selected", not_selected: "Not selected",
  corrupt: "Corrupt", duplicate: "Duplicate",
};
const SORT_LABELS = {
  key: "file name", rank: "selection order", pick_distance: "pick distance",
  file_size: "file size",
};
const COLORS = { selected: "#f97316", not_selected: "#94a3b8", corrupt: "#dc2626", duplicate: "#7c3aed" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function formatValue(name, value) {
  if (value === null || value === undefined) return "–";
  if (name === "file_size") return `${(value / 1024).toFixed(1)} KiB`;
  if (name === "rank") return `#${value}`;
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}

function thumbImage(url, alt) {
  const placeholder = () => el("span", { class: "thumb broken", role: "img", "aria-label": `no image: ${alt}` });
  if (!url) return placeholder();
  const img = el("img", { class: "thumb", loading: "lazy", decoding: "async", alt: alt, src: url });
  // A corrupt or missing file becomes a hatched placeholder, not the browser's broken icon.
  img.addEventListener("error", () => img.replaceWith(placeholder()));
  return img;
}

/* ---------------------------------------------------------------- runs list (index.html) */

async function initIndex() {
  const main = document.getElementById("runs");
  try {
    const [info, data] = await Promise.all([getJSON(API + "info"), getJSON(API + "runs")]);
    document.getElementById("mounts").textContent =
      `input: ${info.input_mount} · lightly: ${info.lightly_mount}`;
    main.replaceChildren();
    if (data.datasources.length === 0) {
      main.append(el("p", { class: "muted" }, "No runs found below the Lightly mount yet (looked for .lightly/runs/)."));
    }
    for (const ds of data.datasources) main.append(renderDatasource(ds));
  } catch (error) {
    main.replaceChildren(el("p", { class: "error" }, `Could not load runs: ${error.message}`));
  }
}

function renderDatasource(ds) {
  const section = el("section", { class: "datasource" },
    el("h2", {}, ds.datasource || "(the Lightly mount itself)", " ", el("span", { class: "muted" }, ds.path)));
  const head = ["Run", "State", "Started", "Dataset", "Found", "Candidates", "Selected", "Corrupt",
    "Duplicates", "Stopped by", "Strategies", "Files"];
  const table = el("table", { class: "runs-table" }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const run of ds.runs) {
    const c = run.counts || {};
    body.append(el("tr", { "data-ref": run.ref },
      el("td", {}, run.has_report ? el("a", { href: run.viewer_url, class: "run-link" }, run.run_id) : run.run_id,
        run.latest ? [" ", el("span", { class: "badge latest" }, "latest")] : null),
      el("td", {}, el("span", { class: `badge ${run.state}` }, run.state)),
      el("td", {}, run.started_at || "–"),
      el("td", {}, run.dataset ? `${run.dataset.name} (${run.dataset.type})` : "–"),
      ["found", "candidates", "selected", "corrupt", "duplicates"].map((k) => el("td", { class: "num" }, c[k] ?? "–")),
      el("td", {}, run.selection.stopped_by || "–"),
      el("td", {}, run.selection.strategies.join(", ") || "–"),
      el("td", { class: "links" }, Object.entries(run.files)
        .filter(([name]) => ["report.pdf", "report.html", "selected_filenames.txt", "log.txt"].includes(name))
        .map(([name, url]) => el("a", { href: url }, name)))));
  }
  table.append(body);
  section.append(table);
  if (ds.sweeps.length) {
    section.append(el("h3", {}, "Sweeps"));
    section.append(el("ul", { class: "sweeps" }, ds.sweeps.map((sweep) => el("li", {},
      el("strong", {}, sweep.stamp), " ", el("code", {}, sweep.overrides.join(" ")), " ",
      Object.entries(sweep.files).map(([name, url]) => [el("a", { href: url }, name), " "])))));
  }
  return section;
}

/* ---------------------------------------------------------------- one run (run.html) */

const state = { ref: "", summary: null, filter: "selected", sort: "rank", order: "asc", page: 0, size: 100, key: null, map: null };

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.filter = params.get("filter") || state.filter;
  state.sort = params.get("sort") || state.sort;
  state.order = params.get("order") || state.order;
  state.page = Number(params.get("page") || 0);
  state.size = Number(params.get("size") || state.size);
  state.key = params.get("key");
}

function writeHash() {
  const params = new URLSearchParams({ filter: state.filter, sort: state.sort, order: state.order, page: state.page, size: state.size });
  if (state.key) params.set("key", state.key);
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}

function runApi(action, params) {
  const base = API + "runs/" + state.ref.split("/").map(encodeURIComponent).join("/");
  const query = params ? `?${new URLSearchParams(params)}` : "";
  return getJSON(action ? `${base}/${action}${query}` : base);
}

async function initRun() {
  state.ref = new URLSearchParams(location.search).get("run") || "";
  readHash();
  try {
    state.summary = await runApi("");
  } catch (error) {
    document.getElementById("grid").replaceChildren(el("p", { class: "error" }, `Could not load run: ${error.message}`));
    return;
  }
  const s = state.summary;
  if (!s.sort_fields.includes(state.sort)) state.sort = "key";
  if (s.filters.selected === 0 && state.filter === "selected") state.filter = "all";
  document.title = `${s.run_id} · lightly-runner viewer`;
  document.getElementById("title").textContent = `${s.datasource || "(lightly mount)"} / ${s.run_id}`;
  document.getElementById("run-meta").textContent =
    `${s.state} · ${s.started_at || ""} · ${s.selection.strategies.join(", ")} · stopped by ${s.selection.stopped_by || "–"}`;
  document.getElementById("run-links").replaceChildren(...Object.entries(s.files)
    .filter(([name]) => name !== "report.json").map(([name, url]) => el("a", { href: url }, name)));
  setupToolbar();
  await loadPage();
  loadMap();
  loadTags();
  if (state.key) openSample(state.key);
}

const EXPORT_LABELS = { filenames: "filenames", read_urls: "read URLs", label_studio: "Label Studio" };

async function loadTags() {
  const node = document.getElementById("tags");
  let data;
  try {
    data = await runApi("tags");
  } catch (error) {
    node.replaceChildren(el("p", { class: "error" }, `Could not load tags: ${error.message}`));
    return;
  }
  if (!data.tags.length) { node.replaceChildren(el("p", { class: "muted" }, "No tags yet.")); return; }
  node.replaceChildren(el("ul", { class: "tags" }, ...data.tags.map((tag) => el("li", {},
    el(tag.this_run ? "strong" : "span", {}, tag.name), ` (${tag.tot_size}) `,
    ...Object.entries(tag.exports).map(([kind, url]) =>
      el("a", { href: url, download: `${tag.name}-${kind}.json` }, EXPORT_LABELS[kind] || kind))))));
}

function setupToolbar() {
  const filters = document.getElementById("filters");
  filters.replaceChildren(...["all", ...state.summary.statuses].map((name) =>
    el("button", { type: "button", "data-filter": name, "aria-pressed": String(name === state.filter),
      onclick: () => { state.filter = name; state.page = 0; if (name === "selected") state.sort = "rank"; syncToolbar(); loadPage(); } },
    `${FILTER_LABELS[name] || name} (${state.summary.filters[name] ?? 0})`)));
  const sort = document.getElementById("sort");
  sort.replaceChildren(...state.summary.sort_fields.map((name) => el("option", { value: name }, SORT_LABELS[name] || name)));
  sort.onchange = () => { state.sort = sort.value; state.page = 0; loadPage(); };
  document.getElementById("order").onclick = () => { state.order = state.order === "asc" ? "desc" : "asc"; state.page = 0; syncToolbar(); loadPage(); };
  const size = document.getElementById("page-size");
  size.onchange = () => { state.size = Number(size.value); state.page = 0; loadPage(); };
  syncToolbar();
}

function syncToolbar() {
  for (const button of document.querySelectorAll("#filters button")) {
    button.setAttribute("aria-pressed", String(button.dataset.filter === state.filter));
  }
  document.getElementById("sort").value = state.sort;
  document.getElementById("order").textContent = state.order === "asc" ? "ascending" : "descending";
  document.getElementById("page-size").value = String(state.size);
}

async function loadPage() {
  writeHash();
  const grid = document.getElementById("grid");
  grid.setAttribute("aria-busy", "true");
  let data;
  try {
    data = await runApi("samples", { filter: state.filter, sort: state.sort, order: state.order, offset: state.page * state.size, limit: state.size });
  } catch (error) {
    grid.replaceChildren(el("p", { class: "error" }, `Could not load samples: ${error.message}`));
    grid.removeAttribute("aria-busy");
    return;
  }
  grid.replaceChildren(...data.items.map(renderCell));
  if (data.items.length === 0) grid.append(el("p", { class: "muted" }, "No samples in this view."));
  grid.removeAttribute("aria-busy");
  for (const id of ["pager-top", "pager-bottom"]) renderPager(document.getElementById(id), data.total);
}

function renderCell(item) {
  const value = state.sort !== "key" ? formatValue(state.sort, item.fields[state.sort]) : null;
  return el("button", {
    type: "button", class: `cell ${item.status}${item.key === state.key ? " current" : ""}`,
    "data-key": item.key, "data-status": item.status, title: [item.key, item.image ? `object crop of ${item.image}` : null, item.reason].filter(Boolean).join("\n"),
    onclick: () => openSample(item.key),
  }, thumbImage(item.thumb, item.key), el("span", { class: "caption" }, item.key), value ? el("span", { class: "value" }, value) : null);
}

function renderPager(node, total) {
  const pages = Math.max(1, Math.ceil(total / state.size));
  const first = total ? state.page * state.size + 1 : 0;
  const last = Math.min(total, (state.page + 1) * state.size);
  const go = (page) => () => { state.page = page; loadPage(); window.scrollTo(0, 0); };
  node.replaceChildren(
    el("button", { type: "button", disabled: state.page === 0, onclick: go(state.page - 1) }, "‹ prev"),
    el("span", { class: "muted" }, `${first}–${last} of ${total} · page ${state.page + 1}/${pages}`),
    el("button", { type: "button", disabled: state.page + 1 >= pages, onclick: go(state.page + 1) }, "next ›"));
}

/* ---------------------------------------------------------------- sample detail */

async function openSample(key) {
  state.key = key;
  writeHash();
  for (const cell of document.querySelectorAll("#grid .cell")) cell.classList.toggle("current", cell.dataset.key === key);
  const panel = document.getElementById("detail");
  let detail;
  try {
    detail = await runApi("sample", { key, k: 12 });
  } catch (error) {
    panel.replaceChildren(el("h2", {}, "Sample"), el("p", { class: "error" }, error.message));
    return;
  }
  if (state.key !== key) return;
  panel.replaceChildren(...renderDetail(detail));
  drawMap();
  if (detail.neighbours_status === "loading") setTimeout(() => { if (state.key === key) openSample(key); }, 1500);
}

function renderDetail(d) {
  const fields = Object.entries(d.fields).flatMap(([name, value]) => [el("dt", {}, SORT_LABELS[name] || name), el("dd", {}, formatValue(name, value))]);
  return [
    el("h2", {}, "Sample ", el("span", { class: `badge ${d.status}`, id: "detail-status" }, FILTER_LABELS[d.status] || d.status)),
    el("div", { class: "figure" }, thumbImage(d.url || d.thumb, d.key), el("div", { class: "boxes", id: "boxes" })),
    el("dl", {},
      el("dt", {}, "key"), el("dd", { id: "detail-key" }, d.key),
      el("dt", {}, "path"), el("dd", {}, d.path || "–"),
      d.image ? [el("dt", {}, "image"), el("dd", { id: "detail-image" }, d.image)] : null,
      d.reason ? [el("dt", {}, "reason"), el("dd", {}, d.reason)] : null,
      d.duplicates.length ? [el("dt", {}, "duplicates"), el("dd", {}, d.duplicates.join(", "))] : null,
      fields,
      d.map ? [el("dt", {}, "map"), el("dd", {}, `${d.map.x.toFixed(3)}, ${d.map.y.toFixed(3)}`)] : null,
      d.url ? [el("dt", {}, "original"), el("dd", {}, el("a", { href: d.url, target: "_blank" }, "open"))] : null),
    el("h3", {}, "Nearest neighbours"),
    renderNeighbours(d),
    // Structured places for later issues: metadata, predictions (boxes go into #boxes), video.
    el("h3", {}, "Metadata"), renderExtra(d.metadata, "no metadata in this run"),
    el("h3", {}, "Predictions"), renderExtra(d.predictions, "no predictions in this run"),
    el("h3", {}, "Video"), renderExtra(d.video, "not a video frame"),
  ];
}

function renderNeighbours(d) {
  if (d.neighbours_status === "loading") return el("p", { class: "muted" }, "Loading embeddings…");
  if (!d.neighbours) return el("p", { class: "placeholder" }, d.neighbours_status.replace("unavailable: ", ""));
  return el("div", { class: "neighbours", id: "neighbours" }, d.neighbours.map((n) => el("button", {
    type: "button", class: `cell ${n.status}`, "data-key": n.key, title: `${n.key} (distance ${n.distance.toFixed(4)})`,
    onclick: () => openSample(n.key),
  }, thumbImage(n.thumb, n.key), el("span", { class: "caption" }, n.distance.toFixed(3)))));
}

function renderExtra(value, emptyText) {
  if (value === null || value === undefined) return el("p", { class: "placeholder" }, emptyText);
  return el("pre", {}, JSON.stringify(value, null, 2));
}

/* ---------------------------------------------------------------- 2-D map */

async function loadMap() {
  const panel = document.getElementById("map-panel");
  let data;
  try {
    data = await runApi("projection");
  } catch (error) {
    data = { available: false, reason: error.message };
  }
  if (!data.available) {
    panel.replaceChildren(el("h2", {}, "Embedding map"), el("p", { class: "placeholder", id: "map-note" }, data.reason));
    return;
  }
  const xs = data.x, ys = data.y;
  const bounds = { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
  for (let i = 0; i < xs.length; i++) { // no Math.min(...xs): argument limits on 100k points
    bounds.x0 = Math.min(bounds.x0, xs[i]); bounds.x1 = Math.max(bounds.x1, xs[i]);
    bounds.y0 = Math.min(bounds.y0, ys[i]); bounds.y1 = Math.max(bounds.y1, ys[i]);
  }
  state.map = { ...data, bounds, index: new Map(data.keys.map((k, i) => [k, i])) };
  const canvas = document.getElementById("map");
  canvas.addEventListener("click", (event) => {
    const hit = nearestPoint(event.offsetX, event.offsetY);
    if (hit !== null) openSample(state.map.keys[hit]);
  });
  drawMap();
}

function project(i, width, height) {
  const { x0, x1, y0, y1 } = state.map.bounds, pad = 10;
  const px = pad + ((state.map.x[i] - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const py = height - pad - ((state.map.y[i] - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  return [px, py];
}

function drawMap() {
  if (!state.map) return;
  const canvas = document.getElementById("map");
  const ratio = window.devicePixelRatio || 1, width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const selectedCode = state.map.statuses.indexOf("selected");
  for (const pass of [false, true]) { // not selected first, selected drawn on top
    for (let i = 0; i < state.map.n; i++) {
      const isSelected = state.map.status[i] === selectedCode;
      if (isSelected !== pass) continue;
      const [px, py] = project(i, width, height), r = isSelected ? 3.5 : 2;
      ctx.fillStyle = isSelected ? COLORS.selected : COLORS.not_selected;
      ctx.beginPath(); ctx.arc(px, py, r, 0, 2 * Math.PI); ctx.fill();
    }
  }
  canvas.dataset.points = String(state.map.n); // drawn (tests and screenshots wait for it)
  const current = state.key !== null ? state.map.index.get(state.key) : undefined;
  if (current !== undefined) {
    const [px, py] = project(current, width, height);
    ctx.strokeStyle = "#2563eb"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI); ctx.stroke();
  }
}

function nearestPoint(x, y) {
  const canvas = document.getElementById("map");
  let best = null, bestDistance = 64; // within 8 px
  for (let i = 0; i < state.map.n; i++) {
    const [px, py] = project(i, canvas.clientWidth, canvas.clientHeight);
    const distance = (px - x) ** 2 + (py - y) ** 2;
    if (distance < bestDistance) { best = i; bestDistance = distance; }
  }
  return best;
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "index") initIndex();
  if (page === "run") { initRun(); window.addEventListener("resize", drawMap); }
});
window.LightlyViewer = { initIndex, initRun, openSample };
