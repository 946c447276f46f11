// KPI dashboard: reads the /kpi endpoints (the key travels in the HttpOnly cookie) and draws
// each chart with plotly.js served by this application. Each chart element gets
// data-state="drawn" | "empty" | "error" when done, so a browser test can wait on it.
"use strict";

// the toolbar (zoom, download) appears only while the pointer is over a chart
const CONFIG = { displaylogo: false, responsive: true, displayModeBar: "hover" };
const LAYOUT = { margin: { l: 60, r: 16, t: 8, b: 48 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
                 font: { size: 12 }, legend: { orientation: "h", y: -0.2 } };
const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const fmt2 = new Intl.NumberFormat("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function filters(includeCountry) {
  const params = new URLSearchParams();
  const start = document.getElementById("start").value;
  const end = document.getElementById("end").value;
  if (start) params.set("start", start);
  if (end) params.set("end", end);
  if (includeCountry) {
    for (const opt of document.getElementById("country").selectedOptions) params.append("country", opt.value);
  }
  return params;
}

async function getJson(path, params) {
  const query = params && params.toString() ? "?" + params.toString() : "";
  const response = await fetch(path + query, { credentials: "same-origin" });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function setState(id, state, points) {
  const el = document.getElementById(id);
  el.dataset.state = state;
  el.dataset.points = String(points || 0);
}

function showEmpty(id, message) {
  const el = document.getElementById(id);
  Plotly.purge(el);
  el.innerHTML = "";
  const box = document.createElement("div");
  box.className = "empty";
  box.textContent = message;
  el.appendChild(box);
  setState(id, "empty", 0);
}

async function draw(id, traces, layout) {
  const el = document.getElementById(id);
  const points = traces.reduce((n, t) => n + (t.y || []).length, 0);
  if (points === 0) { showEmpty(id, "no data for these filters"); return; }
  el.innerHTML = "";
  await Plotly.react(el, traces, Object.assign({}, LAYOUT, layout || {}), CONFIG);
  setState(id, "drawn", points);
}

const col = (rows, name) => rows.map((r) => r[name]);
// `ZZ`: an order whose customer never reached the lake (silver.order_lines), not a country
const countryLabel = (code) => (code === "ZZ" ? "ZZ (unknown)" : code);
const countries = (rows) => rows.map((r) => countryLabel(r.country));
// Money arrives as JSON numbers with two decimals: add it up in whole cents (integers, exact in a
// double up to 90 trillion euros), never as floating-point euros that drift by fractions of a cent.
const cents = (eur) => Math.round((eur || 0) * 100);
const sumCents = (rows, name) => rows.reduce((n, r) => n + cents(r[name]), 0);

async function revenueCharts() {
  const trend = await getJson("/kpi/revenue", filters(true));
  await draw("chart-revenue-trend", [{ x: col(trend.rows, "order_date"), y: col(trend.rows, "revenue_eur"),
    type: "scatter", mode: "lines+markers", name: "revenue", line: { color: "#2f6fde" } }],
    { yaxis: { title: { text: "EUR" } } });
  document.getElementById("tile-revenue").textContent = fmt.format(sumCents(trend.rows, "revenue_eur") / 100);
  for (const [by, id, color] of [["country", "chart-revenue-country", "#3ebd93"], ["category", "chart-revenue-category", "#f0b429"]]) {
    const params = filters(true); params.set("by", by);
    const data = await getJson("/kpi/revenue", params);
    if (by === "country") {  // bars across: a country's label, "ZZ (unknown)" too, stays level and whole
      await draw(id, [{ y: countries(data.rows), x: col(data.rows, "revenue_eur"), type: "bar", orientation: "h",
        marker: { color } }], { xaxis: { title: { text: "EUR" } }, yaxis: { autorange: "reversed", type: "category" },
        margin: { l: 100, r: 16, t: 8, b: 48 } });
      continue;
    }
    await draw(id, [{ x: col(data.rows, by), y: col(data.rows, "revenue_eur"), type: "bar", marker: { color } }],
      { yaxis: { title: { text: "EUR" } } });
  }
}

async function aovChart() {
  const data = await getJson("/kpi/average-order-value", filters(true));
  await draw("chart-aov", [{ x: col(data.rows, "order_date"), y: col(data.rows, "avg_order_value_eur"),
    type: "scatter", mode: "lines", name: "AOV", line: { color: "#9446ed" } }], { yaxis: { title: { text: "EUR" } } });
  const revenueCents = sumCents(data.rows, "revenue_eur");
  const orders = data.rows.reduce((n, r) => n + r.orders, 0);
  document.getElementById("tile-orders").textContent = fmt.format(orders);
  // half-up to the cent from the exact total, as the API rounds its averages
  document.getElementById("tile-aov").textContent = orders ? fmt2.format(Math.round(revenueCents / orders) / 100) : "–";
}

async function funnelChart() {
  const data = await getJson("/kpi/funnel", filters(false));
  const row = data.rows[0] || {};
  const steps = ["sessions", "cart_sessions", "checkout_sessions", "orders"];
  const values = steps.map((s) => row[s] || 0);
  if (!values[0]) { showEmpty("chart-funnel", "no sessions for these dates"); return; }
  await draw("chart-funnel", [{ type: "funnel", y: ["sessions", "added to cart", "checked out", "ordered"], x: values,
    textinfo: "value+percent initial", marker: { color: ["#2f6fde", "#4c8bf5", "#7aa7f7", "#3ebd93"] } }],
    { margin: { l: 110, r: 16, t: 8, b: 24 } });
  const rate = row.session_to_order_rate;
  document.getElementById("tile-conversion").textContent = rate == null ? "–" : (100 * rate).toFixed(1) + " %";
}

async function coldChainChart() {
  const data = await getJson("/kpi/cold-chain", filters(false));
  const rows = data.rows.filter((r) => r.excursions > 0).slice(0, 25);
  if (!rows.length) { showEmpty("chart-cold-chain", "no excursions in these dates"); return; }
  await draw("chart-cold-chain", [{ x: col(rows, "device_id"), y: col(rows, "excursions"), type: "bar",
    marker: { color: "#e12d39" }, customdata: col(rows, "minutes_above_limit"),
    hovertemplate: "%{x}: %{y} excursions, %{customdata} min above limit<extra></extra>" }],
    { yaxis: { title: { text: "excursions" } } });
}

async function targetChart() {
  // Revenue as a share of the month's target, per country (rows) and month (columns): every label
  // stays level and readable however many countries and months the filters take in.
  const data = await getJson("/kpi/actual-vs-target", filters(true));
  const months = [...new Set(col(data.rows, "month"))].sort();
  const codes = [...new Set(col(data.rows, "country"))].sort((a, b) => (a === "ZZ") - (b === "ZZ") || a.localeCompare(b));
  const cell = new Map(data.rows.map((r) => [r.country + "|" + r.month, r]));
  const grid = (f) => codes.map((c) => months.map((m) => f(cell.get(c + "|" + m))));
  const pct = (r) => (r && r.attainment != null ? Math.round(100 * r.attainment) : null);
  const eur = (v) => (v == null ? "–" : "€" + fmt.format(v));
  await draw("chart-target", [{
    type: "heatmap", x: months, y: codes.map(countryLabel), z: grid(pct), zmin: 50, zmid: 100, zmax: 150,
    colorscale: [[0, "#e12d39"], [0.5, "#f5f7fa"], [1, "#3ebd93"]], xgap: 2, ygap: 2,
    text: grid((r) => (pct(r) == null ? (r && r.revenue_eur != null ? "no target" : "") : pct(r) + " %")),
    texttemplate: "%{text}", customdata: grid((r) => [eur(r && r.revenue_eur), eur(r && r.target_revenue_eur)]),
    hovertemplate: "%{y}, %{x}: actual %{customdata[0]}, target %{customdata[1]}<extra></extra>",
    colorbar: { title: { text: "% of target" }, ticksuffix: " %" },
  }], { margin: { l: 100, r: 16, t: 8, b: 40 }, yaxis: { autorange: "reversed" }, xaxis: { type: "category" } });
}

async function churnChart() {
  const data = await getJson("/kpi/churn-risk");
  if (!data.available || !data.rows.length) { showEmpty("chart-churn", "no scores yet"); return; }
  await draw("chart-churn", [{ x: data.rows.map((r) => r.bucket_start.toFixed(1) + "–" + (r.bucket_start + 0.1).toFixed(1)),
    y: col(data.rows, "customers"), type: "bar", marker: { color: "#f7643b" } }],
    { xaxis: { title: { text: "churn probability" } }, yaxis: { title: { text: "customers" } } });
}

// The latest monitoring run: one row per metric, values rounded, the status as a coloured badge.
const MONITORING_COLUMNS = [
  ["metric", "metric", (r) => r.metric],
  ["kind", "kind", (r) => r.kind.replace("_", " ")],
  ["value", "number", (r) => (r.value == null ? "–" : r.value.toFixed(3))],
  ["warn at", "number", (r) => r.warn_threshold.toFixed(2)],
  ["alert at", "number", (r) => r.alert_threshold.toFixed(2)],
];

async function monitoringTable() {
  const data = await getJson("/kpi/model-monitoring");
  const section = document.getElementById("monitoring");
  if (!data.available || !data.rows.length) { section.hidden = true; return; }
  const latest = data.rows.filter((r) => r.run_id === data.rows[0].run_id);
  const first = latest[0];
  const counts = ["OK", "WARN", "ALERT"].map((s) => latest.filter((r) => r.status === s).length + " " + s);
  document.getElementById("monitoring-run").textContent = `${first.model_name} v${first.model_version}, data as of `
    + `${first.as_of_date}, monitored ${String(first.monitored_at).slice(0, 16).replace("T", " ")} UTC: ${counts.join(", ")}`;
  const table = document.getElementById("monitoring-table");
  table.innerHTML = "";
  const head = table.createTHead().insertRow();
  for (const [title, kind] of [...MONITORING_COLUMNS, ["status", "status"]]) {
    const th = document.createElement("th"); th.textContent = title; th.className = kind; head.appendChild(th);
  }
  const body = table.createTBody();
  for (const r of latest) {
    const tr = body.insertRow();
    for (const [, kind, text] of MONITORING_COLUMNS) { const td = tr.insertCell(); td.textContent = text(r); td.className = kind; }
    const badge = document.createElement("span");
    badge.className = "badge " + String(r.status).toLowerCase();
    badge.textContent = r.status;
    const cell = tr.insertCell(); cell.className = "status"; cell.appendChild(badge);
  }
  section.hidden = false;
}

async function refresh() {
  const status = document.getElementById("status");
  status.textContent = "loading…";
  const jobs = [revenueCharts, aovChart, funnelChart, coldChainChart, targetChart, churnChart, monitoringTable];
  const results = await Promise.allSettled(jobs.map((job) => job()));
  const failed = results.filter((r) => r.status === "rejected");
  failed.forEach((r) => console.error(r.reason));
  status.textContent = failed.length ? failed.length + " chart(s) failed" : "updated " + new Date().toLocaleTimeString();
  document.body.dataset.ready = failed.length ? "error" : "yes";
}

async function init() {
  const range = (await getJson("/kpi/date-range")).rows[0] || {};
  if (range.start) document.getElementById("start").value = range.start;
  if (range.end) document.getElementById("end").value = range.end;
  const select = document.getElementById("country");
  for (const c of range.countries || []) select.add(new Option(countryLabel(c), c));
  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  await refresh();
}

init().catch((e) => { console.error(e); document.getElementById("status").textContent = String(e); });
