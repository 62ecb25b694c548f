// sensorlake monitor page: fetches /api/overview and updates the page in place.
// Hand-written, no dependencies; data only ever reaches the page through textContent.
"use strict";

const REFRESH_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const fmt = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function num(value) {
  return value === null || value === undefined ? "–" : fmt.format(value);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function ago(iso) {
  if (!iso) return "never";
  return `${duration((Date.now() - Date.parse(iso)) / 1000)} ago`;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function backlog(p) {
  if (p.backlog_files === null) return "–";
  if (p.backlog_files === 0) return "none";
  const files = p.backlog_files === 1 ? "1 file" : `${num(p.backlog_files)} files`;
  return `${num(p.backlog_records)} in ${files}`;
}

function card(p, metrics) {
  const node = el("article", { class: "card", "data-pipeline": p.pipeline, "data-state": p.state });
  if (p.pipeline === "emergency") node.classList.add("emergency");
  const head = el("h3");
  head.append(el("span", { class: "name" }, p.pipeline));
  head.append(el("span", { class: "pill state", "data-state": p.state }, p.state));
  const short = p.table.split(".").pop();
  node.append(head, el("div", { class: "table-name", title: p.table }, short));
  const dl = el("dl");
  const rows = [
    ["landed", "landed", num(p.landed_records)],
    ["ingested", "ingested", num(p.ingested_records)],
    ["backlog", "backlog", backlog(p)],
    ["lag", "lag", duration(p.lag_seconds)],
    ["last landed", "last-landed", ago(p.last_landed)],
  ];
  for (const [label, cls, value] of rows) {
    dl.append(el("dt", {}, label), el("dd", { class: cls }, value));
  }
  node.append(dl);
  if (p.pipeline === "emergency" && metrics && metrics.records_last_hour > 0) {
    node.append(el("div", { class: "alert" }, `${num(metrics.records_last_hour)} emergency readings in the last hour`));
  }
  if (metrics && metrics.uncounted_objects > 0) {
    node.append(el("div", { class: "counting" },
      `still reading the record counts of ${num(metrics.uncounted_objects)} files`));
  }
  node.append(el("div", { class: "reason" }, p.reason));
  return node;
}

function chart(series, buckets, emergency) {
  const box = el("div", { class: emergency ? "chart emergency" : "chart", "data-pipeline": series.pipeline });
  box.append(el("h4", {}, series.pipeline));
  const W = 220, H = 110, L = 40, B = 16, T = 6, R = 6;
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${series.pipeline}: records landed and ingested over time` });
  const max = Math.max(1, ...series.landed, ...series.ingested);
  const n = Math.max(1, buckets.length - 1);
  const x = (i) => L + (i / n) * (W - L - R);
  const y = (v) => H - B - (v / max) * (H - B - T);
  plot.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  plot.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  const top = svg("text", { x: L - 4, y: T + 8, "text-anchor": "end" });
  top.textContent = compact.format(max); // "50K": fits the axis at any size
  const zero = svg("text", { x: L - 4, y: H - B, "text-anchor": "end" });
  zero.textContent = "0";
  plot.append(top, zero);
  if (buckets.length) {
    const first = svg("text", { x: L, y: H - 3 });
    first.textContent = clock(buckets[0]);
    const last = svg("text", { x: W - R, y: H - 3, "text-anchor": "end" });
    last.textContent = "now";
    plot.append(first, last);
  }
  if (series.landed.length) {
    const area = series.landed.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    area.push(`${x(series.landed.length - 1).toFixed(1)},${H - B}`, `${L},${H - B}`);
    plot.append(svg("polygon", { class: "landed-area", points: area.join(" ") }));
  }
  for (const [name, values] of [["landed", series.landed], ["ingested", series.ingested]]) {
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const line = svg("polyline", { class: name, points });
    const tip = svg("title");
    tip.textContent = `${name}: ${fmt.format(values.length ? values[values.length - 1] : 0)}`;
    line.append(tip);
    plot.append(line);
  }
  box.append(plot);
  return box;
}

function render(data) {
  const health = data.health;
  const overall = document.getElementById("overall");
  overall.textContent = health.status;
  overall.dataset.state = health.status;
  document.getElementById("asof").textContent =
    `figures from ${new Date(health.as_of).toLocaleTimeString()} (${duration(health.age_seconds)} old)`;

  const recon = data.reconciliation;
  const verdict = document.getElementById("verdict");
  verdict.dataset.verdict = recon.verdict;
  document.getElementById("verdict-title").textContent = `Reconciliation: ${recon.verdict}`;
  document.getElementById("verdict-text").textContent = recon.summary;

  const problems = document.getElementById("problems");
  problems.replaceChildren();
  const issues = health.components.filter((c) => c.status !== "healthy" && c.reason);
  problems.hidden = issues.length === 0;
  if (issues.length) {
    const list = el("ul");
    for (const c of issues) list.append(el("li", {}, `${c.name} (${c.backend}): ${c.status}, ${c.reason}`));
    problems.append(list);
  }

  const metrics = Object.fromEntries(data.metrics.pipelines.map((p) => [p.pipeline, p]));
  document.getElementById("cards").replaceChildren(
    ...data.status.pipelines.map((p) => card(p, metrics[p.pipeline])));

  const charts = document.getElementById("charts");
  charts.replaceChildren(...data.series.map((s) => chart(s, data.buckets, s.pipeline === "emergency")));
  document.getElementById("chart-range").textContent =
    data.buckets.length ? `since ${clock(data.buckets[0])}, ${duration(data.bucket_seconds)} steps` : "";

  const comp = document.querySelector("#components tbody");
  comp.replaceChildren(...health.components.map((c) => {
    const tr = el("tr", { "data-component": c.name });
    const state = el("td");
    state.append(el("span", { class: "pill", "data-state": c.status }, c.status));
    tr.append(el("td", {}, c.name), el("td", {}, c.backend), state, el("td", {}, c.reason || ""));
    return tr;
  }));
  const gw = data.status.gateway;
  document.getElementById("gateway").textContent = gw.available && gw.last_run
    ? `gateway ${gw.last_run.gateway}: last run ${gw.last_run.finished_at}, ${num(gw.last_run.rows_read)} rows read` +
      `${gw.last_run.error ? ", failed: " + gw.last_run.error : ""}; spool ${num(gw.spool_files)} file(s)`
    : "no gateway state on this machine";

  const body = document.querySelector("#recon tbody");
  const order = { missing: 0, duplicates: 1, extra: 2, "no lineage": 3, pending: 4, "not checked": 5, ok: 6 };
  const rows = [...recon.rows].sort((a, b) => order[a.verdict] - order[b.verdict]).slice(0, 40);
  body.replaceChildren(...rows.map((r) => {
    const tr = el("tr", { "data-pipeline": r.pipeline, "data-gateway": r.gateway });
    const v = el("td");
    v.append(el("span", { class: "pill", "data-state": r.verdict }, r.verdict));
    tr.append(el("td", {}, r.pipeline), el("td", {}, r.gateway),
      el("td", { class: "num" }, num(r.landed_records)), el("td", { class: "num" }, num(r.distinct_records)),
      el("td", { class: "num" }, num(r.pending_records)), el("td", { class: "num" }, num(r.missing_records)),
      el("td", { class: "num" }, num(r.duplicate_rows)), v);
    return tr;
  }));
  document.body.dataset.loaded = "true";
}

// -- fleet: one page of gateways, worst first, searched on the server -------------------

const FLEET_PER_PAGE = 50;
const fleetView = { page: 1, pages: 1, q: "", state: "", seq: 0 };

function values(v) {
  return Object.entries(v || {}).filter(([, x]) => x !== null && x !== undefined)
    .map(([k, x]) => `${k} ${Number(x).toFixed(2).replace(/\.?0+$/, "")}`).join(" · ");
}

function fleetRow(g) {
  const tr = el("tr", { "data-gateway": g.gateway, "data-state": g.state });
  const state = el("td");
  state.append(el("span", { class: "pill", "data-state": g.state }, g.state));
  const newest = el("td", { class: "newest", title: g.last_landed }, ago(g.last_landed));
  const pipes = el("td", { class: "fleet-pipes" });
  for (const p of g.pipelines) {
    pipes.append(el("span", { "data-pipeline": p.pipeline, title: `${p.last_key} at ${p.last_landed}` },
      `${p.pipeline} ${duration((Date.now() - Date.parse(p.last_landed)) / 1000)}`));
  }
  const backlog = g.backlog_files === null ? "–" : (g.backlog_files === 0 ? "none" : `${num(g.backlog_files)} files`);
  tr.append(el("td", { class: "gateway" }, g.gateway), state, newest,
    el("td", { class: "num files" }, `${num(g.files_last_hour)} / ${num(g.files_last_day)}`),
    el("td", { class: "num records" }, `${num(g.records_last_hour)} / ${num(g.records_last_day)}`),
    el("td", { class: "num backlog" }, backlog), pipes, el("td", { class: "reason" }, g.reason));
  return tr;
}

function renderFleet(data) {
  const t = data.totals;
  document.getElementById("fleet-totals").textContent =
    `${num(t.gateways)} gateways: ${num(t.healthy)} healthy, ${num(t.silent)} silent, ${num(t.behind)} behind` +
    (data.error ? ` (landing zone: ${data.error})` : "");
  const section = document.getElementById("fleet");
  section.dataset.matching = String(data.matching);
  section.dataset.page = String(data.page);
  fleetView.pages = data.pages;
  document.querySelector("#fleet-table tbody").replaceChildren(...data.gateways.map(fleetRow));
  const shown = data.matching === t.gateways ? "" : ` (${num(data.matching)} match)`;
  document.getElementById("fleet-page").textContent = `page ${num(data.page)} of ${num(data.pages)}${shown}`;
  document.getElementById("fleet-prev").disabled = data.page <= 1;
  document.getElementById("fleet-next").disabled = data.page >= data.pages;
  document.body.dataset.fleet = String(Number(document.body.dataset.fleet || 0) + 1);
}

async function refreshFleet() {
  const seq = ++fleetView.seq;
  const params = new URLSearchParams({ page: String(fleetView.page), per_page: String(FLEET_PER_PAGE) });
  if (fleetView.q) params.set("q", fleetView.q);
  if (fleetView.state) params.set("state", fleetView.state);
  const response = await fetch(`/api/fleet?${params}`, { cache: "no-store" });
  if (response.status === 503) return;
  if (!response.ok) throw new Error(`fleet: HTTP ${response.status}`);
  const data = await response.json();
  if (seq === fleetView.seq) renderFleet(data); // an older answer never overwrites a newer one
}

function emergencyRow(e) {
  const tr = el("tr", { "data-sensor": e.sensor_id, "data-gateway": e.gateway });
  tr.append(el("td", { class: "time", title: e.timestamp || "" }, e.timestamp ? new Date(e.timestamp).toLocaleString() : "–"),
    el("td", { class: "sensor" }, e.sensor_id), el("td", { class: "gateway" }, e.gateway),
    el("td", { class: "reasons" }, e.reasons.join(", ") + (e.valid ? "" : " (invalid reading)")),
    el("td", { class: "values" }, values(e.values)));
  return tr;
}

async function refreshEmergencies() {
  const response = await fetch("/api/emergencies?limit=20", { cache: "no-store" });
  if (response.status === 503) return;
  if (!response.ok) throw new Error(`emergencies: HTTP ${response.status}`);
  const data = await response.json();
  const section = document.getElementById("emergencies");
  section.dataset.count = String(data.readings.length);
  document.getElementById("emergencies-note").textContent = data.error
    ? `(${data.table}: ${data.error})`
    : (data.readings.length ? `newest ${data.readings.length} in ${data.table}, newest first` : "");
  document.getElementById("emergencies-empty").hidden = data.readings.length > 0;
  const table = document.getElementById("emergencies-table");
  table.hidden = data.readings.length === 0;
  table.querySelector("tbody").replaceChildren(...data.readings.map(emergencyRow));
}

function fleetControls() {
  let timer = null;
  document.getElementById("fleet-q").addEventListener("input", (ev) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      fleetView.q = ev.target.value.trim();
      fleetView.page = 1;
      refreshFleet().catch(() => {});
    }, 200);
  });
  document.getElementById("fleet-state").addEventListener("change", (ev) => {
    fleetView.state = ev.target.value;
    fleetView.page = 1;
    refreshFleet().catch(() => {});
  });
  document.getElementById("fleet-prev").addEventListener("click", () => {
    if (fleetView.page > 1) { fleetView.page -= 1; refreshFleet().catch(() => {}); }
  });
  document.getElementById("fleet-next").addEventListener("click", () => {
    if (fleetView.page < fleetView.pages) { fleetView.page += 1; refreshFleet().catch(() => {}); }
  });
}

async function refresh() {
  const live = document.getElementById("live");
  try {
    // The fleet and the alarms on their own: one of them failing never hides the rest.
    const quiet = (p) => p.catch((err) => { live.title = `last refresh failed (${err.message}); retrying`; });
    const [response] = await Promise.all([
      fetch("/api/overview", { cache: "no-store" }), quiet(refreshFleet()), quiet(refreshEmergencies())]);
    if (response.status === 503) {
      document.getElementById("verdict-text").textContent = "reading the landing zone for the first time…";
      live.className = "stale";
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    live.className = "tick";
    setTimeout(() => { live.className = ""; }, 600);
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  } catch (err) {
    live.className = "stale";
    live.title = `last refresh failed (${err.message}); retrying`;
  }
}

fleetControls();
refresh();
setInterval(refresh, REFRESH_MS);
