"use strict";
// The fleet view: gates, alarms, hourly charts (SVG drawn by the server) and event search.
const settings = window.FLEET;
let language = localStorage.getItem("fleet-language") || settings.language;
const $ = (id) => document.getElementById(id);
let gatesSeen = [];
const shown = { gates: null, alarms: null, events: null };  // the last data drawn: a language switch redraws it at once

// a code from the wire is looked up as the catalogue's own key, never an inherited one ("constructor" is no word)
function own(table, key) {
  return table && typeof key === "string" && Object.hasOwn(table, key) && typeof table[key] === "string"
    ? table[key] : undefined;
}

function m(group, code, params = {}) {
  const text = typeof code === "string" ? code : String(code);
  const found = own(settings.messages[language][group], text)
    ?? (group === "outcome" ? own(settings.outcome[language], text) : undefined);
  const template = found ?? text;
  return template.replace(/\{(\w+)\}/g, (_, key) => (Object.hasOwn(params, key) ? String(params[key] ?? "") : ""))
    .replace(/[\s:：]+$/, "");
}

function applyLanguage() {
  document.documentElement.lang = language;
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = m("ui", node.dataset.i18n); });
  $("lang").textContent = language === "zh" ? "EN" : "中文";
  const kinds = $("search-kind");
  const chosen = kinds.value;
  kinds.replaceChildren(new Option(m("ui", "all"), ""),
    ...["decision", "alarm", "action", "status"].map((k) => new Option(m("kind", k), k)));
  kinds.value = chosen;
  const hours = $("chart-hours");
  const picked = hours.value || String(settings.hours[0]);
  hours.replaceChildren(...settings.hours.map((h) => new Option(m("ui", "last_hours", { n: h }), String(h))));
  hours.value = picked;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) { showLogin(); throw new Error("login required"); }
  return response.json();
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function showLogin() { if (!$("login-dialog").open) { $("login-dialog").showModal(); } }

function ago(seconds) {
  if (seconds === null || seconds === undefined) { return m("ui", "never"); }
  const age = Math.max(0, Date.now() / 1000 - seconds);
  if (age < 120) { return m("ui", "seconds_ago", { n: Math.round(age) }); }
  if (age < 7200) { return m("ui", "minutes_ago", { n: Math.round(age / 60) }); }
  return m("ui", "hours_ago", { n: Math.round(age / 3600) });
}

function localTime(seconds) {
  return new Date(seconds * 1000).toLocaleString(language === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}

function cell(text, className) {
  const node = document.createElement("td");
  node.textContent = text;
  if (className) { node.className = className; }
  return node;
}

async function loadGates() {
  drawGates(await api("/api/gates"));
}

function drawGates(data) {
  shown.gates = data;
  $("operator").textContent = m("ui", "operator", { name: data.operator });
  $("summary").textContent = m("ui", "summary", data.summary);
  const body = $("gates").tBodies[0];
  body.replaceChildren(...data.gates.map((gate) => {
    const row = document.createElement("tr");
    row.dataset.gate = `${gate.site}/${gate.gate}`;
    const faults = Object.keys(gate.faults).join(", ");
    row.append(cell(gate.site), cell(gate.gate), cell(m("state", gate.state), `state ${gate.state}`),
      cell(ago(gate.last_seen)), cell(faults || "—"), cell(gate.outbox ?? "—"));
    return row;
  }));
  gatesSeen = data.gates;
  fillChartChoices();
}

function fillChartChoices() {
  const sites = [...new Set(gatesSeen.map((g) => g.site))];
  const siteBox = $("chart-site");
  const site = siteBox.value;
  siteBox.replaceChildren(new Option(m("ui", "all"), ""), ...sites.map((s) => new Option(s, s)));
  siteBox.value = sites.includes(site) ? site : "";
  const gateBox = $("chart-gate");
  const gate = gateBox.value;
  const gates = gatesSeen.filter((g) => !siteBox.value || g.site === siteBox.value).map((g) => g.gate);
  gateBox.replaceChildren(new Option(m("ui", "all"), ""), ...gates.map((g) => new Option(g, g)));
  gateBox.value = gates.includes(gate) ? gate : "";
}

async function loadAlarms() {
  drawAlarms(await api("/api/alarms"));
}

function drawAlarms(data) {
  shown.alarms = data;
  const list = $("alarms");
  if (!data.alarms.length) {
    const empty = document.createElement("li");
    empty.className = "acknowledged";
    empty.textContent = m("ui", "no_alarms");
    list.replaceChildren(empty);
    return;
  }
  list.replaceChildren(...data.alarms.map((alarm) => {
    const item = document.createElement("li");
    item.dataset.eventId = alarm.event_id;
    const text = document.createElement("span");
    text.textContent = `${localTime(alarm.time)} · ${alarm.site}/${alarm.gate} · ${m("alarm", alarm.alarm || "unknown")}`;
    item.append(text);
    if (alarm.acknowledged_by) {
      item.classList.add("acknowledged");
      const who = document.createElement("span");
      who.textContent = m("ui", "acknowledged_by", { who: alarm.acknowledged_by });
      item.append(who);
    } else {
      const button = document.createElement("button");
      button.textContent = m("ui", "ack");
      button.addEventListener("click", async () => { await post("/api/alarms/ack", { event_id: alarm.event_id }); loadAlarms(); });
      item.append(button);
    }
    return item;
  }));
}

function loadCharts() {
  const query = new URLSearchParams({ site: $("chart-site").value, gate: $("chart-gate").value,
    hours: $("chart-hours").value || settings.hours[0], lang: language });
  $("charts").replaceChildren(...["entries", "denials", "alarms", "decision_p95", "stage_p95"].map((chart) => {
    const image = document.createElement("img");
    image.alt = m("chart", chart);
    image.dataset.chart = chart;
    image.src = `/api/chart.svg?${query}&chart=${chart}`;
    return image;
  }));
}

function searchQuery(limit) {
  const query = new URLSearchParams({ limit });
  const fields = { gate: "search-gate", kind: "search-kind", resident: "search-resident", pass: "search-pass" };
  for (const [name, id] of Object.entries(fields)) { if ($(id).value.trim()) { query.set(name, $(id).value.trim()); } }
  if ($("search-from").value) { query.set("since", String(new Date($("search-from").value).getTime() / 1000)); }
  if ($("search-to").value) { query.set("until", String(new Date($("search-to").value).getTime() / 1000)); }
  return query;
}

async function search(event) {
  if (event) { event.preventDefault(); }
  drawResults(await api(`/api/events?${searchQuery("100")}`));
}

function drawResults(data) {
  shown.events = data;
  const body = $("results").tBodies[0];
  if (!data.events.length) {
    const row = document.createElement("tr");
    const only = cell(m("ui", "no_events"));
    only.colSpan = 5;
    row.append(only);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...data.events.map((found) => {
    const row = document.createElement("tr");
    let result = "";
    if (found.kind === "decision") {
      const reasons = (found.reason_codes || []).map((code) => m("outcome", code)).join(", ");
      result = found.granted ? `${m("ui", "granted")} ${found.resident_name || ""}${found.resident_unit ? ` (${found.resident_unit})` : ""}` : `${m("ui", "denied")}: ${reasons}`;
    } else if (found.kind === "alarm") {
      result = m("alarm", found.alarm || "unknown");
    } else if (found.kind === "action" && found.action === "visitor_registered") {
      result = m("action", "visitor_registered", { name: found.name, host_unit: found.host_unit,
                                                   until: localTime(found.valid_until) });
    }
    const outcome = cell(result);
    if (found.snapshot) {  // a face the gate was configured to send: opened on demand, each view audited
      const link = document.createElement("a");
      link.className = "snapshot";
      link.href = `/api/snapshots/${encodeURIComponent(found.event_id)}.jpg`;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = ` ${m("ui", "snapshot")}`;
      outcome.append(link);
    }
    row.append(cell(localTime(found.time)), cell(found.site), cell(found.gate), cell(m("kind", found.kind)), outcome);
    return row;
  }));
}

async function refresh() {
  try { await Promise.all([loadGates(), loadAlarms()]); } catch (error) { /* shown by the login dialog */ }
}

async function begin() {
  await refresh();
  loadCharts();
  setInterval(refresh, 5000);
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: $("login-name").value, password: $("login-password").value }) }).then((r) => r.json());
  if (!result.ok) { $("login-error").textContent = m("ui", result.error); return; }
  $("login-error").textContent = "";
  $("login-dialog").close();
  begin();
});
$("logout").addEventListener("click", async () => { await post("/api/logout", {}); location.reload(); });
$("lang").addEventListener("click", () => {
  language = language === "zh" ? "en" : "zh";
  localStorage.setItem("fleet-language", language);
  applyLanguage();
  if (shown.gates) { drawGates(shown.gates); }
  if (shown.alarms) { drawAlarms(shown.alarms); }
  if (shown.events) { drawResults(shown.events); }
  loadCharts();
});
["chart-site", "chart-gate", "chart-hours"].forEach((id) => $(id).addEventListener("change", () => {
  if (id === "chart-site") { fillChartChoices(); }
  loadCharts();
}));
$("search-form").addEventListener("submit", search);
$("export-button").addEventListener("click", () => {
  const query = searchQuery("100000");
  query.set("lang", language);
  location.assign(`/api/events.csv?${query}`);  // the session cookie goes with it; the file downloads
});

applyLanguage();
api("/api/gates").then(() => begin()).catch(() => showLogin());
