// Live updates without reloads: each event from /events patches the page in place. Fault
// lists are fetched again as JSON and their rows rebuilt from text (textContent, never
// HTML); a new alarm is highlighted, can sound (a tone made with WebAudio, no file) and
// raise a desktop notification. Sound is a toggle remembered in localStorage; the
// browser's autoplay rule holds (audio starts only after a click on the page).
"use strict";

const LIVE_WORDS = JSON.parse(document.body.dataset.words || "{}");
const SOUND_KEY = "slawatch.sound";
const known = new Set(); // ticket ids the page has shown
const fresh = new Set(); // new alarms not yet acknowledged or looked at
let audio = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// --- Sound and notifications --------------------------------------------------------
function soundOn() { return localStorage.getItem(SOUND_KEY) === "on"; }

function showSound() {
  const button = document.getElementById("sound");
  if (!button) return;
  const blocked = soundOn() && (!audio || audio.state !== "running");
  button.textContent = !soundOn() ? LIVE_WORDS.sound_off : blocked ? LIVE_WORDS.sound_blocked : LIVE_WORDS.sound_on;
  button.setAttribute("aria-pressed", soundOn() ? "true" : "false");
  button.classList.toggle("on", soundOn());
}

// An AudioContext may start only from a user's gesture; one made earlier stays suspended
// until the next click anywhere on the page resumes it.
function wakeAudio() {
  if (!soundOn()) return;
  if (!audio) audio = new AudioContext();
  if (audio.state !== "running") audio.resume().then(showSound, showSound);
  showSound();
}

function beep() {
  if (!soundOn() || !audio || audio.state !== "running") return;
  const start = audio.currentTime;
  for (const [n, pitch] of [880, 660, 880].entries()) {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = pitch;
    gain.gain.setValueAtTime(0.2, start + n * 0.18);
    gain.gain.exponentialRampToValueAtTime(0.001, start + n * 0.18 + 0.16);
    tone.connect(gain).connect(audio.destination);
    tone.start(start + n * 0.18);
    tone.stop(start + n * 0.18 + 0.17);
  }
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
}

function notify(row) {
  if (!soundOn() || !("Notification" in window) || Notification.permission !== "granted") return;
  const names = row.devices.map((d) => d.name).join(LIVE_WORDS.separator);
  new Notification(LIVE_WORDS.new_alarm + " · " + row.class_text, {
    body: row.count + " · " + names + " · " + row.region,
    tag: row.id,
  });
  document.body.dataset.notified = String(Number(document.body.dataset.notified || 0) + 1);
}

function soundToggle() {
  const button = document.getElementById("sound");
  if (!button) return;
  button.addEventListener("click", () => {
    localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
    if (soundOn()) {
      wakeAudio();
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
    }
    showSound();
  });
  document.addEventListener("pointerdown", wakeAudio, { capture: true });
  if (soundOn()) wakeAudio();
  showSound();
}

// --- Fault rows -----------------------------------------------------------------------
function countdown(kind, deadline, stopped, total, shown) {
  const cell = el("td", "countdown " + kind, shown || "—");
  cell.dataset.deadline = deadline;
  cell.dataset.total = String(total);
  if (stopped) cell.dataset.stopped = "yes";
  return cell;
}

function faultRow(row, bulk, picked) {
  const tr = el("tr", "fault " + row.fault_class + (row.acknowledged ? " acked" : " unacked") + (row.resolved ? " closed" : ""));
  tr.dataset.ticket = row.id;
  tr.dataset.count = String(row.count);
  if (bulk) {
    const pick = el("td", "pick");
    const box = el("input");
    box.type = "checkbox"; box.name = "ticket"; box.value = row.id; box.checked = picked;
    box.setAttribute("form", "bulk");
    box.setAttribute("aria-label", row.id);
    pick.append(box);
    tr.append(pick);
  }
  const id = el("td", "id");
  const link = el("a", "", row.id);
  link.href = "/faults/" + encodeURIComponent(row.id);
  id.append(link);
  const kind = el("td", "class", row.class_text);
  if (row.cause) kind.append(el("div", "muted cause", row.cause));
  if (row.note) kind.append(el("div", "note", LIVE_WORDS.note_line + row.note));
  const devices = el("td", "devices");
  devices.append(el("b", "affected", row.count), " ");
  row.devices.forEach((d, n) => {
    const a = el("a", "", d.name);
    a.href = "/fleet/" + encodeURIComponent(d.id);
    devices.append(a);
    if (d.address) devices.append(el("span", "muted addr", " " + d.address));
    if (n < row.devices.length - 1) devices.append(LIVE_WORDS.separator);
  });
  if (row.more) devices.append(" ", el("span", "muted more", row.more));
  tr.append(
    id, kind, devices, el("td", "region", row.region), el("td", "reason", row.reason),
    el("td", "detected", row.detected),
    countdown("respond", row.respond_by, row.acknowledged, 1800, row.acknowledged),
    countdown("repair", row.repair_by, row.resolved, row.repair_total, row.resolved_text),
  );
  if (fresh.has(row.id)) tr.classList.add("new");
  tr.addEventListener("click", () => { fresh.delete(row.id); tr.classList.remove("new"); });
  return tr;
}

async function refreshFaults(table) {
  const answer = await fetch(table.dataset.source, { headers: { accept: "application/json" } });
  if (!answer.ok) return;
  const found = await answer.json();
  const bulk = table.dataset.bulk === "yes";
  const picked = new Set([...table.querySelectorAll("input[name=ticket]:checked")].map((b) => b.value));
  const arrived = found.rows.filter((row) => !known.has(row.id) && !row.acknowledged);
  for (const row of found.rows) {
    if (!known.has(row.id) && !row.acknowledged) fresh.add(row.id);
    if (row.acknowledged) fresh.delete(row.id);
    known.add(row.id);
  }
  const body = table.tBodies[0];
  const rows = found.rows.map((row) => faultRow(row, bulk, picked.has(row.id)));
  if (!rows.length) {
    const empty = el("tr", "empty");
    const cell = el("td", "muted", "—");
    cell.colSpan = table.tHead.rows[0].cells.length;
    empty.append(cell);
    rows.push(empty);
  }
  body.replaceChildren(...rows);
  const count = document.getElementById("open-count");
  if (count) count.textContent = String(found.count);
  if (typeof tick === "function") tick();
  if (arrived.length) {
    beep();
    arrived.forEach(notify);
  }
}

// --- The wall's figures ---------------------------------------------------------------
async function refreshWall() {
  const answer = await fetch("/wall.json", { headers: { accept: "application/json" } });
  if (!answer.ok) return;
  const found = await answer.json();
  for (const card of found.contracts) {
    const node = document.querySelector(`.figure[data-contract="${CSS.escape(card.key)}"]`);
    if (!node) continue;
    node.className = "figure " + card.level;
    node.querySelector(".now").textContent = card.now;
    node.querySelector(".offline").textContent = card.offline;
    node.querySelector(".today").textContent = card.today;
  }
  for (const tile of found.regions) {
    const node = document.querySelector(`.tile[data-region="${CSS.escape(tile.key)}"]`);
    if (!node) continue;
    node.className = "tile " + tile.level;
    node.querySelector(".now").textContent = tile.now;
    node.querySelector(".offline").textContent = tile.offline;
  }
  const outage = document.getElementById("outage");
  if (outage) {
    outage.replaceChildren(...found.outage.map((line) => el("div", "", line)));
    outage.hidden = !found.outage.length;
  }
}

// --- The stream -----------------------------------------------------------------------
// Refreshes are coalesced: a storm of events costs one fetch a second, not one each.
function coalesced(work, wait) {
  let timer = null, again = false;
  const run = async () => {
    try { await work(); } finally {
      timer = null;
      if (again) { again = false; timer = setTimeout(run, wait); }
    }
  };
  return () => { if (timer) again = true; else timer = setTimeout(run, wait); };
}

function patchState(event) {
  const word = LIVE_WORDS[event.state] || event.state;
  for (const cell of document.querySelectorAll(`tr[data-device="${CSS.escape(event.device_id)}"] td.state, td.state[data-device="${CSS.escape(event.device_id)}"]`)) {
    cell.className = "state " + event.state;
    cell.textContent = word;
  }
  const map = document.getElementById("map");
  if (map) map.dispatchEvent(new CustomEvent("device-state", { detail: event }));
}

function live() {
  soundToggle();
  const tables = [...document.querySelectorAll("table.faults[data-source]")];
  for (const table of tables) {
    for (const row of table.querySelectorAll("tr[data-ticket]")) known.add(row.dataset.ticket);
  }
  const pickAll = document.getElementById("pick-all");
  if (pickAll) {
    pickAll.addEventListener("change", () => {
      for (const box of document.querySelectorAll("input[name=ticket]")) box.checked = pickAll.checked;
    });
  }
  if (document.body.dataset.live !== "on") return; // the open wall reloads itself instead
  const badge = document.getElementById("live");
  const faults = coalesced(() => Promise.all(tables.map(refreshFaults)), 300);
  const figures = document.getElementById("figures") ? coalesced(refreshWall, 1000) : () => {};
  const source = new EventSource("/events");
  source.onopen = () => { if (badge) badge.classList.add("on"); };
  source.onerror = () => { if (badge) badge.classList.remove("on"); };
  for (const kind of ["ticket", "alert"]) source.addEventListener(kind, () => { faults(); figures(); });
  source.addEventListener("resync", () => { faults(); figures(); });
  source.addEventListener("state", (message) => {
    patchState(JSON.parse(message.data));
    figures();
  });
  document.body.dataset.liveReady = "yes";
}

document.addEventListener("DOMContentLoaded", live);
