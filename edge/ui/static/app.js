// The guard's screen: server-sent events in, a few JSON POSTs out. No polling loop.
"use strict";

const TEXT = {
  zh: {
    waiting: "等待通行", granted: "允许通行", denied: "禁止通行", open: "手动开闸", enrol: "现场登记",
    login: "保安登录", guard_id: "工号", pin: "密码", open_why: "开闸原因", cancel: "取消", confirm_open: "确认开闸",
    capture: "拍照登记", name: "姓名", unit: "房号", ack: "确认报警", passback_reset: "清除防潜回", recheck: "复测体温", record: "记录",
    spot_check: "抽检：请复测此人体温",
    wrong_match: "认错人", visitor: "访客", unknown: "陌生人", mqtt: "云端", face_threshold: "人脸阈值", face_point: "由本门住户人数与误识目标推算", outbox: "待传", ok: "正常",
    fever: "发烧报警", spoof: "假脸报警", forced_passage: "强行通过", tailgate: "尾随报警", device_fault: "设备故障",
    wrong_pin: "工号或密码错误", locked_out: "已锁定，请稍后再试", unknown_guard: "工号不存在", opened: "已开闸", not_recorded: "无法记录，闸门未开（数据库故障）", relay_failed: "继电器故障，闸门未开",
    login_required: "请先登录", delivery: "送货", elderly_or_disabled: "老人/残障", visitor_escorted: "陪同访客",
    emergency: "紧急情况", fault: "设备故障", choose_reason: "请选择原因", enrolled: "登记成功",
    manual: "手动开闸", passed: "已通过", not_passed: "未通过", recorded: "已记录",
    camera: "摄像头", thermal: "热成像", relay: "继电器", passage: "通行传感器", qr_scanner: "扫码器", storage: "数据库",
    ui: "触摸屏", face: "人脸识别", online: "在线", offline: "离线", fpir: "估计误识率",
    baseline: "测温基准", baseline_learning: "测温基准", baseline_hint: "近期正常通行者的体温，用于校准与相对筛查",
    minutes: "分钟前", site_offset: "复测校正", no_liveness: "未检测活体：照片可冒充住户",
    clock_unsynchronised: "时钟未与网络校时同步", clock_behind: "时钟落后于已记录的时间",
    group_open: "可通行", group_closed: "非通行时段", as_resident: "住户", as_visitor: "访客（{hours}小时）", add_card: "登记卡片", tap_card_now: "请现在刷卡", card_added: "卡片已登记", no_card: "15 秒内未刷卡",
    register_visitor: "访客登记", visitor_name: "访客姓名", host_unit: "被访房号", phone_optional: "电话（可选）",
    issue_pass: "签发通行码", print: "打印", valid_until: "有效至", close: "关闭", hours_short: "小时",
    pass_issued: "通行码已签发，请打印交给访客", choose_hours: "请选择有效时长",
    save: "保存", capturing: "拍照中，请对方稍微转头…", check_faces: "请核对照片后保存", eyes: "眼距", sharpness: "清晰度",
  },
  en: {
    waiting: "Waiting", granted: "ENTER", denied: "STOP", open: "Open gate", enrol: "Enrol resident",
    login: "Guard login", guard_id: "Guard ID", pin: "PIN", open_why: "Why open?", cancel: "Cancel",
    confirm_open: "Open now", capture: "Capture", name: "Name", unit: "Unit", ack: "Acknowledge", passback_reset: "Reset anti-passback",
    recheck: "Recheck °C", record: "Record", wrong_match: "Wrong person", visitor: "Visitor", unknown: "Stranger",
    spot_check: "Spot check: please recheck",
    mqtt: "Cloud", face_threshold: "face threshold", face_point: "derived from this gate's residents and the false-accept target", outbox: "queued", ok: "OK", fever: "FEVER", spoof: "SPOOF", forced_passage: "FORCED PASSAGE",
    tailgate: "TAILGATING", device_fault: "DEVICE FAULT", wrong_pin: "Wrong guard ID or PIN",
    locked_out: "Locked out, try later", unknown_guard: "Unknown guard ID", opened: "Gate opened",
    not_recorded: "Not opened: the gate could not record it (database fault)", relay_failed: "Not opened: relay fault",
    login_required: "Log in first", delivery: "Delivery", elderly_or_disabled: "Elderly / disabled",
    visitor_escorted: "Escorted visitor", emergency: "Emergency", fault: "Equipment fault",
    choose_reason: "Choose a reason", enrolled: "Enrolled", manual: "Manual open", passed: "passed",
    not_passed: "did not pass", recorded: "Recorded",
    camera: "camera", thermal: "thermal camera", relay: "relay", passage: "passage sensor", qr_scanner: "QR scanner",
    storage: "database", ui: "touchscreen", face: "face recognition", online: "online", offline: "offline",
    fpir: "estimated false accepts",
    baseline: "°C baseline", baseline_learning: "°C baseline",
    baseline_hint: "recent normal visitors' temperatures: calibration and relative screening",
    minutes: "min ago", site_offset: "recheck offset",
    no_liveness: "nothing checks liveness: a photo of a resident is let in",
    clock_unsynchronised: "clock not synchronised (NTP)", clock_behind: "clock behind times already seen",
    group_open: "open", group_closed: "closed now", as_resident: "Resident", as_visitor: "Visitor ({hours} h)", add_card: "Add card", tap_card_now: "Tap the card now", card_added: "Card enrolled", no_card: "No card within 15 s",
    register_visitor: "Register visitor", visitor_name: "Visitor's name", host_unit: "Host unit",
    phone_optional: "Phone (optional)", issue_pass: "Issue pass", print: "Print", valid_until: "Valid until",
    close: "Close", hours_short: "h", pass_issued: "Pass issued: print it for the visitor",
    choose_hours: "Choose how long it is valid",
    save: "Save", capturing: "Capturing: ask them to turn slightly…", check_faces: "Check the faces, then save",
    eyes: "eyes", sharpness: "sharpness",
  },
};
const settings = window.GATEPOST || { language: "zh", reasons: [], gate: "" };
let lang = localStorage.getItem("lang") || settings.language;
let guard = null;
let alarms = new Map();
let beeping = null;
let chosenReason = null;
let lastDecision = null;
let snapshots = false;  // the gate keeps a face snapshot with each decision (storage.snapshots)
const $ = (id) => document.getElementById(id);
const t = (key) => (TEXT[lang] && TEXT[lang][key]) || key;
let MESSAGES = {};  // edge/ui/static/messages.json: words for the codes decisions, alarms and events carry

function m(group, code, params = {}) {
  const template = (((MESSAGES[lang] || {})[group]) || {})[code];
  if (template === undefined) { return null; }
  return template.replace(/\{([a-z_]+)\}/g, (_, name) => {
    const value = params[name];
    if (value === undefined || value === null) { return ""; }
    return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(1) : String(value);
  });
}

function checkLines(event) {
  // one line per check, from its code and parameters; the English reason text only for old events
  const checks = event.checks || {};
  const names = Object.keys(checks);
  if (!names.length) { return event.reasons || []; }
  return names.map((name) => {
    const check = checks[name];
    const icon = check.status === "pass" ? "✔" : (check.status === "fail" ? "✘" : "…");
    return `${icon} ${m("outcome", check.code, check.params || {}) || check.reason}`;
  });
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("lang").textContent = lang === "zh" ? "EN" : "中文";
  $("reasons").innerHTML = "";
  for (const reason of settings.reasons) {
    const button = document.createElement("button");
    button.textContent = t(reason);
    button.dataset.reason = reason;
    button.className = "reason" + (reason === chosenReason ? " chosen" : "");
    button.onclick = () => { chosenReason = reason; applyLanguage(); };
    $("reasons").appendChild(button);
  }
  renderAlarm();
  if (lastDecision) { showDecision(lastDecision, { keepTime: true }); }
}

async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body), credentials: "same-origin" });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { ok: false, error: String(response.status) }; }
  if (response.status === 401) { showLogin(); }
  return data;
}

function showLogin() { if (!$("login-dialog").open) { $("login-dialog").showModal(); } }

function decisionText(event) {
  if (event.source && event.source !== "pipeline") { return `${t("manual")}: ${t(event.reasons[0].replace("manual open: ", ""))}`; }
  if (event.resident_name) { return event.resident_name; }
  if (event.pass_id) { return `${t("visitor")} ${event.pass_id}`; }
  return t("unknown");
}

function showSnapshot(event) {
  const image = $("decision-snapshot");
  image.hidden = true;
  if (!snapshots || !event.event_id || (event.source && event.source !== "pipeline")) { image.removeAttribute("src"); return; }
  image.onload = () => { image.hidden = false; };
  image.src = `/api/snapshots/${event.event_id}.jpg`;
}

function showDecision(event, { keepTime = false, live = false } = {}) {
  lastDecision = event;
  const card = $("decision-card");
  card.className = "card " + (event.granted ? "granted" : "denied");
  card.dataset.eventId = event.event_id;
  card.dataset.visitId = event.visit_id || "";
  if (!keepTime) { card.dataset.shownAt = String(Date.now()); card.dataset.live = live ? "1" : "0"; }
  delete $("decision-title").dataset.i18n;
  $("decision-title").textContent = event.granted ? t("granted") : t("denied");
  const temperature = event.temperature_c != null ? ` · ${event.temperature_c.toFixed(1)} °C` : "";
  $("decision-who").textContent = decisionText(event) + temperature;
  showSnapshot(event);
  $("decision-reasons").innerHTML = "";
  for (const line of (event.source && event.source !== "pipeline") ? [] : checkLines(event)) {
    const li = document.createElement("li");
    li.textContent = line;
    $("decision-reasons").appendChild(li);
  }
  const actions = $("decision-actions");
  actions.innerHTML = "";
  // any reading can be rechecked (a fever, no reading, a borderline one, or a spot check of someone let in):
  // the pairs teach the site's offset, and pairs of people passed keep them honest
  const rechecked = ["fever", "temperature_no_reading", "temperature_uncertain"];
  if (event.visit_id && ((event.reason_codes || []).some((code) => rechecked.includes(code)) || event.temperature)) {
    if (event.temperature && event.temperature.spot_check) {  // the gate drew this pass for a recheck
      const note = document.createElement("p");
      note.id = "spot-check"; note.className = "spot-check"; note.textContent = t("spot_check");
      actions.append(note);
    }
    const input = document.createElement("input");
    input.id = "recheck-input"; input.inputMode = "decimal"; input.placeholder = "°C";
    const button = document.createElement("button");
    button.id = "recheck-button"; button.textContent = t("recheck");
    button.onclick = async () => {
      const result = await post("/api/recheck", { visit_id: event.visit_id, temperature_c: parseFloat(input.value) });
      button.textContent = result.ok ? t("recorded") : (result.error || "!");
    };
    actions.append(input, button);
  }
  if (event.granted && event.resident_name && event.visit_id) {
    const button = document.createElement("button");
    button.id = "wrong-match"; button.textContent = t("wrong_match");
    button.onclick = async () => {
      const result = await post("/api/not-this-person", { visit_id: event.visit_id });
      button.textContent = result.ok ? t("recorded") : (result.error || "!");
    };
    actions.append(button);
  }
}

function addEvent(event) {
  const li = document.createElement("li");
  const time = new Date(event.time * 1000).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
  let text = event.kind;
  if (event.kind === "decision") {
    const why = (event.reason_codes || []).map((code) => {
      const check = Object.values(event.checks || {}).find((c) => c.code === code) || {};
      return m("outcome", code, check.params || {}) || code;
    });
    text = `${event.granted ? "✔" : "✘"} ${decisionText(event)}${why.length ? " — " + why.join("; ") : ""}`;
    li.className = event.granted ? "granted" : "denied";
  }
  else if (event.kind === "alarm") { text = `⚠ ${alarmText(event)}`; li.className = "ev-alarm"; }
  else if (event.kind === "passage") { text = `↦ ${event.passed ? t("passed") : t("not_passed")}`; }

  else if (event.kind === "action") { text = `• ${m("action", event.action, event) || event.action}`; }
  else if (event.kind === "status") {
    text = `◦ ${m("status", event.state, { device: event.device ? t(event.device) : "" }) || event.state || ""}`;
  }
  li.textContent = `${time} ${text}`;
  $("events").prepend(li);
  while ($("events").children.length > 30) { $("events").lastChild.remove(); }
}

function alarmText(alarm) {
  const params = { temperature_c: alarm.temperature_c, device: alarm.device ? t(alarm.device) : "", name: alarm.name,
                   gate: alarm.gate };
  return m("alarm", alarm.alarm, params) || `${t(alarm.alarm)} ${alarm.detail || ""}`;
}

// the access groups in force here, open now or not (the site's over this gate's own)
function renderGroups(groups) {
  $("groups").replaceChildren(...groups.map((group) => {
    const item = document.createElement("span");
    item.className = group.open ? "good" : "bad";
    item.dataset.group = group.name;
    item.textContent = `${group.name} ${group.open ? t("group_open") : t("group_closed")}`;
    return item;
  }));
}

function renderAlarm() {
  const banner = $("alarm-banner");
  const open = [...alarms.values()];
  if (!open.length) { banner.classList.add("hidden"); stopBeep(); return; }
  const latest = open[open.length - 1];
  banner.classList.remove("hidden");
  banner.dataset.eventId = latest.event_id;
  $("alarm-text").textContent = alarmText(latest);
  $("passback-reset-button").classList.toggle("hidden", latest.alarm !== "passback");
  startBeep();
}

function startBeep() {
  if (beeping) { return; }
  try {
    const context = new (window.AudioContext || window.webkitAudioContext)();
    beeping = setInterval(() => {
      const oscillator = context.createOscillator();
      oscillator.frequency.value = 880;
      oscillator.connect(context.destination);
      oscillator.start(); oscillator.stop(context.currentTime + 0.25);
    }, 1000);
  } catch (e) { beeping = -1; }
}
function stopBeep() { if (beeping && beeping !== -1) { clearInterval(beeping); } beeping = null; }

function renderDevices(devices) {
  const parts = [];
  for (const device of Object.keys(devices.faults || {})) { parts.push(`<span class="bad">✘ ${t(device)}</span>`); }
  for (const warning of devices.warnings || []) { parts.push(`<span class="bad" id="warning-${warning}">⚠ ${t(warning)}</span>`); }
  if (!parts.length) { parts.push(`<span class="good">✔ ${t("ok")}</span>`); }
  if (devices.mqtt) { parts.push(`<span class="${devices.mqtt === "online" ? "good" : "bad"}">${t("mqtt")} ${t(devices.mqtt)}</span>`); }
  if (devices.mqtt && devices.outbox) { parts.push(`${t("outbox")} ${devices.outbox}`); }
  if (devices.face) {
    const fpir = devices.face.estimated_fpir === null ? "" : ` · ${t("fpir")} ≈ ${devices.face.estimated_fpir.toExponential(1)}`;
    parts.push(`<span title="${t("face_point")}">${t("face_threshold")} ${devices.face.threshold.toFixed(3)}${fpir}</span>`);
  }
  if (devices.thermal) {
    const b = devices.thermal.baseline;
    const age = b.newest_age_s === null ? "" : ` · ${Math.round(b.newest_age_s / 60)} ${t("minutes")}`;
    const text = b.ready ? `${t("baseline")} ${b.samples}${age}` : `${t("baseline_learning")} ${b.samples}/${b.min_samples}`;
    const offset = devices.thermal.site_offset_c ? ` · ${t("site_offset")} ${devices.thermal.site_offset_c.toFixed(2)} °C` : "";
    parts.push(`<span id="baseline" title="${t("baseline_hint")}">${text}${offset}</span>`);
  }
  $("devices").innerHTML = parts.join(" · ");
}

function renderOverlay(overlay) {
  if (!overlay) { return; }
  const primary = (overlay.faces || []).find((face) => face.primary);
  const name = primary ? (primary.name || t("unknown")) : "";
  const temperature = overlay.temperature_c != null ? `${overlay.temperature_c.toFixed(1)} °C` : "";
  $("live-label").textContent = [name, temperature].filter(Boolean).join(" · ");
}

function handle(event) {
  addEvent(event);
  if (event.kind === "decision") { showDecision(event, { live: true }); }
  if (event.kind === "alarm") { alarms.set(event.event_id, event); renderAlarm(); }
}

let stream = null;

async function start() {
  try { MESSAGES = await (await fetch("/static/messages.json")).json(); } catch (e) { MESSAGES = {}; }
  $("gate-name").textContent = settings.gate;
  applyLanguage();
  const response = await fetch("/api/state", { credentials: "same-origin" });
  if (response.status === 401) { showLogin(); document.body.dataset.ready = "1"; return; }
  await begin(await response.json());
}

// Everything but the login form needs a guard: the state, the event stream and the live view.
async function begin(state) {
  guard = state.guard;
  snapshots = Boolean(state.snapshots);
  $("guard").textContent = guard || "";
  for (const event of state.events) { addEvent(event); }
  const previous = [...state.events].reverse().find((e) => e.kind === "decision");
  if (previous) { showDecision(previous); }
  for (const alarm of state.alarms) { alarms.set(alarm.event_id, alarm); }
  renderAlarm();
  renderGroups(state.groups || []);
  renderDevices(state.devices);
  $("live").src = "/api/live.mjpg";
  stream = new EventSource("/api/stream");
  stream.onerror = async () => {
    const check = await fetch("/api/state", { credentials: "same-origin" });
    if (check.status === 401) { stream.close(); stream = null; $("live").removeAttribute("src"); showLogin(); }
  };
  stream.addEventListener("gate", (message) => handle(JSON.parse(message.data)));
  stream.addEventListener("status", (message) => {
    const status = JSON.parse(message.data);
    renderDevices(status.devices);
    renderOverlay(status.overlay);
    renderGroups(status.groups || []);
  });
  document.body.dataset.ready = "1";
}

$("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("lang", lang); applyLanguage(); };
$("login-button").onclick = async () => {
  const result = await post("/api/login", { guard: $("guard-id").value, pin: $("pin").value });
  $("pin").value = "";
  if (result.ok) {
    guard = result.guard; $("guard").textContent = guard; $("login-error").textContent = ""; $("login-dialog").close();
    if (!stream) { await begin(await (await fetch("/api/state", { credentials: "same-origin" })).json()); }
  }
  else { $("login-error").textContent = t(result.error); }
};
$("open-button").onclick = () => { if (!guard) { showLogin(); return; } $("open-result").textContent = ""; $("open-dialog").showModal(); };
$("open-cancel").onclick = () => $("open-dialog").close();
$("open-confirm").onclick = async () => {
  if (!chosenReason) { $("open-result").textContent = t("choose_reason"); return; }
  const result = await post("/api/open", { reason: chosenReason, pin: $("open-pin").value });
  $("open-pin").value = "";
  $("open-result").className = result.ok ? "ok" : "error";
  $("open-result").textContent = result.ok ? t("opened") : t(result.error);
  if (result.ok) { setTimeout(() => $("open-dialog").close(), 800); }
};
$("ack-button").onclick = async () => {
  const id = $("alarm-banner").dataset.eventId;
  const result = await post("/api/ack", { event_id: id });
  if (result.ok || result.error) { alarms.delete(id); renderAlarm(); }
};
$("passback-reset-button").onclick = async () => {
  if (!guard) { showLogin(); return; }
  const id = $("alarm-banner").dataset.eventId;
  const result = await post("/api/passback-reset", { event_id: id });
  if (result.ok) { alarms.delete(id); renderAlarm(); }
};
// enrolment: capture a burst (the person is asked to turn slightly), look at the faces kept, then save
let captureId = null;
let enrolledId = null;
function resetEnrol() {
  captureId = null; enrolledId = null; $("enrol-card").classList.add("hidden");
  // a visitor's face is enrolled for the visit only: removed when it ends
  $("enrol-kind").replaceChildren(new Option(t("as_resident"), "0"),
    ...[2, 4, 8, 24].map((hours) => new Option(t("as_visitor").replace("{hours}", hours), String(hours)))); $("enrol-save").disabled = true; $("enrol-faces").innerHTML = ""; $("enrol-result").textContent = "";
}
$("enrol-button").onclick = () => { if (!guard) { showLogin(); return; } resetEnrol(); $("enrol-dialog").showModal(); };
$("enrol-cancel").onclick = () => { resetEnrol(); $("enrol-dialog").close(); };
$("enrol-capture").onclick = async () => {
  resetEnrol();
  $("enrol-result").className = "ok"; $("enrol-result").textContent = t("capturing");
  const result = await post("/api/enrol/capture", {});
  $("enrol-result").className = result.ok ? "ok" : "error";
  $("enrol-result").textContent = result.ok ? t("check_faces") : result.error;
  if (!result.ok) { return; }
  captureId = result.capture_id;
  for (const face of result.faces) {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.src = face.image; image.alt = "";
    const caption = document.createElement("figcaption");
    caption.textContent = `${t("eyes")} ${Math.round(face.quality.eye_distance_px)} px`;
    caption.title = `${t("sharpness")} ${Math.round(face.quality.sharpness)}, yaw ${face.quality.yaw}`;
    figure.append(image, caption);
    $("enrol-faces").appendChild(figure);
  }
  $("enrol-save").disabled = false;
};
$("enrol-save").onclick = async () => {
  const result = await post("/api/enrol", { capture_id: captureId || "", name: $("enrol-name").value,
                                            unit: $("enrol-unit").value, pin: $("enrol-pin").value,
                                            visitor_hours: parseFloat($("enrol-kind").value || "0") });
  $("enrol-pin").value = "";
  $("enrol-faces").innerHTML = ""; captureId = null; $("enrol-save").disabled = true;
  if (result.ok) { enrolledId = result.resident_id; $("enrol-card").classList.remove("hidden"); }
  $("enrol-result").className = result.ok ? "ok" : "error";
  $("enrol-result").textContent = result.ok
    ? `${t("enrolled")} #${result.resident_id} (${result.templates})` +
      (result.warnings.length ? " ⚠ " + result.warnings.join("; ") : "")
    : result.error;
};
// "tap the card now": the next card read is the resident's (the PIN again: a card lets them in)
$("enrol-card").onclick = async () => {
  $("enrol-result").className = "ok"; $("enrol-result").textContent = t("tap_card_now");
  const result = await post("/api/cards/tap", { resident_id: enrolledId, pin: $("enrol-pin").value });
  $("enrol-pin").value = "";
  $("enrol-result").className = result.ok ? "ok" : "error";
  $("enrol-result").textContent = result.ok ? `${t("card_added")} ${result.card}` : t(result.error);
};
// visitors at the booth: name, host unit, how long; a signed pass shown and printed for them
const VISITOR_HOURS = [2, 4, 8, 24];
let visitorHours = null;
function resetVisitor() {
  visitorHours = null;
  for (const id of ["visitor-name", "visitor-host", "visitor-phone", "visitor-pin"]) { $(id).value = ""; }
  $("visitor-form").classList.remove("hidden"); $("visitor-issue").classList.remove("hidden");
  $("visitor-pass").classList.add("hidden"); $("visitor-print").classList.add("hidden");
  $("visitor-result").textContent = "";
  const grid = $("visitor-hours");
  grid.innerHTML = "";
  for (const hours of VISITOR_HOURS) {
    const button = document.createElement("button");
    button.textContent = `${hours} ${t("hours_short")}`; button.dataset.hours = hours;
    button.onclick = () => {
      visitorHours = hours;
      for (const other of grid.children) { other.classList.toggle("chosen", other === button); }
    };
    grid.appendChild(button);
  }
}
$("visitor-button").onclick = () => { if (!guard) { showLogin(); return; } resetVisitor(); $("visitor-dialog").showModal(); };
$("visitor-cancel").onclick = () => { resetVisitor(); $("visitor-dialog").close(); };
$("visitor-print").onclick = () => window.print();
$("visitor-issue").onclick = async () => {
  if (!visitorHours) { $("visitor-result").className = "error"; $("visitor-result").textContent = t("choose_hours"); return; }
  const result = await post("/api/visitors", { name: $("visitor-name").value, host_unit: $("visitor-host").value,
                                               phone: $("visitor-phone").value, hours: visitorHours,
                                               pin: $("visitor-pin").value });
  $("visitor-pin").value = "";
  $("visitor-result").className = result.ok ? "ok" : "error";
  $("visitor-result").textContent = result.ok ? t("pass_issued") : (t(result.error) || result.error);
  if (!result.ok) { return; }
  $("visitor-qr").src = result.qr;
  $("pass-name").textContent = result.name;
  $("pass-host").textContent = result.host_unit;
  $("pass-until").textContent = new Date(result.valid_until * 1000).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB");
  $("pass-id").textContent = result.pass_id;
  $("visitor-pass").dataset.passId = result.pass_id;
  $("visitor-form").classList.add("hidden"); $("visitor-issue").classList.add("hidden");
  $("visitor-pass").classList.remove("hidden"); $("visitor-print").classList.remove("hidden");
};
start();
