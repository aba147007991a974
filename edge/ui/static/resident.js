// The person at the gate: one prompt at a time, pushed by the gate on the frame its visit changes.
"use strict";

const settings = window.GATEPOST || { language: "zh" };
const asked = new URLSearchParams(location.search).get("lang");  // a second screen in another language
const language = asked === "en" || asked === "zh" ? asked : settings.language;
const ICONS = { welcome: "✓", refused: "✕", info: "ⓘ", measuring_temperature: "🌡", show_code: "▣", idle: "☺" };
let MESSAGES = {};

function show(prompt) {
  const words = ((MESSAGES[language] || {}).prompt || {})[prompt.code] || "";
  const refused = prompt.code.startsWith("refused_") || prompt.code === "see_guard" || prompt.code === "out_of_service";
  const kind = prompt.code === "welcome" ? "go" : refused ? "stop" : "info";
  const main = document.getElementById("prompt");
  main.className = `prompt ${kind}`;
  main.dataset.code = prompt.code;
  document.getElementById("prompt-text").textContent = words;
  document.getElementById("prompt-icon").textContent =
    ICONS[prompt.code] || (kind === "go" ? ICONS.welcome : kind === "stop" ? ICONS.refused : ICONS.info);
  document.getElementById("code-guide").classList.toggle("hidden", !prompt.guide);
}

async function start() {
  document.documentElement.lang = language;
  MESSAGES = await (await fetch("/static/messages.json")).json();
  const stream = new EventSource("/api/prompt");
  stream.addEventListener("prompt", (event) => show(JSON.parse(event.data)));
  document.body.dataset.ready = "1";
}

start();
