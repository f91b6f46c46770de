// quaywatch control room: live alerts (Server-Sent Events), the alarm, operator actions, camera health.
// Plain script, no build step. Every piece of text from the server goes in through textContent or esc().
"use strict";

const QW = JSON.parse(document.getElementById("qw-config").textContent);
const T = QW.t;
const CAN_ACT = QW.role === "operator" || QW.role === "admin";
const alerts = new Map();   // id -> alert JSON, the page's copy of the truth
window.quaywatch = { alerts, pushLatency: [] };

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function $(sel, root = document) { return root.querySelector(sel); }
function toast(msg) {
  const el = $("#toast");
  if (!el) return;
  el.textContent = msg; el.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

// ---- the alarm: a two-tone beep loop from Web Audio, on while any alert waits for acknowledgement ----
const alarm = {
  ctx: null, timer: null, playing: false, beeps: 0,
  ensureContext() {
    if (!this.ctx) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (AC) this.ctx = new AC();
    }
    return this.ctx;
  },
  mode: null,
  beep() {
    const ctx = this.ensureContext();
    if (!ctx || ctx.state !== "running") return;
    const now = ctx.currentTime;
    const tones = this.mode === "water" ? [[880, 0], [660, 0.28]] : [[520, 0]];
    tones.forEach(([freq, at]) => {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "square"; osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.35, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.25);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + at); osc.stop(now + at + 0.27);
    });
    this.beeps += 1;
  },
  // "water": someone may be in the water, an urgent two-tone loop every second. "camera": a camera is
  // blind, one soft tone every 5 s: it must be noticed, but must not sound like a drowning.
  start(mode) {
    if (this.playing && this.mode === mode) return;
    this.stop();
    this.mode = mode;
    this.playing = true;
    this.beep();
    this.timer = setInterval(() => this.beep(), mode === "water" ? 1000 : 5000);
  },
  stop() {
    this.playing = false;
    clearInterval(this.timer); this.timer = null;
  },
  get audible() { return this.playing && !!this.ctx && this.ctx.state === "running"; },
};
window.quaywatch.alarm = alarm;

function updateSoundButton() {
  const btn = $("#sound");
  if (!btn) return;
  const on = alarm.ctx && alarm.ctx.state === "running";
  btn.textContent = on ? T.sound_on : T.enable_sound;
  btn.classList.toggle("on", !!on);
}

// Browsers only start audio after a gesture: the first click or key anywhere unlocks it for the shift.
function unlockAudio() {
  const ctx = alarm.ensureContext();
  if (ctx && ctx.state !== "running") ctx.resume().then(() => { updateSoundButton(); if (alarm.playing) alarm.beep(); });
  updateSoundButton();
}
document.addEventListener("click", unlockAudio);
document.addEventListener("keydown", unlockAudio);

// ---- drawing ----
function kindText(a) {
  const k = { water_entry: T.banner, person_in_water: T.banner, camera_offline: T.camera_offline,
              self_test_failed: T.self_test_failed };
  return k[a.kind] || a.kind.replaceAll("_", " ");
}
function stateBadge(a) {
  const word = T["state_" + a.state] || a.state;
  const outcome = a.outcome ? " · " + (T[a.outcome] || a.outcome) : "";
  return `<span class="badge ${esc(a.state)}">${esc(word + outcome)}</span>`;
}
function mapSvg(a) {
  if (!QW.map) return "";
  const cams = QW.map.cameras.map((c) => {
    const [x, y] = c.xy;
    // Labels point inwards so the outermost cameras' names are not cut at the edge of the map.
    const right = x > 600;
    return `<circle class="cam" cx="${x}" cy="${y}" r="12"/><text class="cam-label" x="${right ? x - 18 : x + 18}" y="${y - 16}"` +
      ` text-anchor="${right ? "end" : "start"}">${esc(c.name)}</text>`;
  }).join("");
  const hit = a.map_xy ? `<circle class="hit-ring" cx="${a.map_xy[0]}" cy="${a.map_xy[1]}" r="26"/><circle class="hit" cx="${a.map_xy[0]}" cy="${a.map_xy[1]}" r="16"/>` : "";
  const scale = QW.map.metres_per_unit ? Math.round(100 / QW.map.metres_per_unit) : 0;
  const bar = scale ? `<line x1="30" y1="570" x2="${30 + scale}" y2="570" stroke="#e6edf3" stroke-width="4"/><text x="30" y="555" class="cam-label">100 m</text>` : "";
  const osm = a.lat != null ? ` <a href="geo:${a.lat},${a.lon}">${a.lat.toFixed(5)}, ${a.lon.toFixed(5)}</a>` : "";
  return `<div class="map"><svg viewBox="0 0 1000 600" role="img" aria-label="${esc(T.map)}">${cams}${hit}${bar}</svg>${osm}</div>`;
}
function pagesTable(a) {
  if (!a.pages.length) return "";
  const rows = a.pages.map((p) => `<tr><td>${esc(p.person)}</td><td>${esc(T["channel_" + p.channel] || p.channel)}</td>` +
    `<td>${esc(p.sent_local)}</td><td class="status-${esc(p.status)}" data-status="${esc(p.status)}">` +
    `${esc(T["status_" + p.status] || p.status)}${p.error_code ? " (" + esc(p.error_code) + ")" : ""}</td></tr>`).join("");
  return `<table class="pages"><thead><tr><th>${esc(T.paged)}</th><th></th><th>${esc(T.time)}</th><th>${esc(T.delivery)}</th></tr></thead><tbody>${rows}</tbody></table>`;
}
function auditList(a) {
  if (!a.audit.length) return "";
  return `<details><summary>${esc(T.audit)}</summary><ul class="audit">` + a.audit.map((e) =>
    `<li>${esc(e.at_local)} · ${esc(e.actor)} · ${esc(e.from || "")} → ${esc(e.to)}${e.note ? " · " + esc(e.note) : ""}</li>`).join("") + "</ul></details>";
}
function actions(a) {
  if (!CAN_ACT || !a.open) return a.fixture_url && CAN_ACT ? `<div class="actions"><a class="button" href="${esc(a.fixture_url)}">${esc(T.export_fixture)}</a></div>` : "";
  const outcomes = ["resolved", "false_alarm", "drill", "real_incident"].map((o) => `<option value="${o}">${esc(T[o])}</option>`).join("");
  return `<div class="actions">
    <select class="outcome" aria-label="${esc(T.close_as)}">${outcomes}</select><button data-act="close">${esc(T.close_as)}</button>
    <textarea class="note" maxlength="2000" placeholder="${esc(T.note)}" aria-label="${esc(T.note)}"></textarea><button data-act="note">${esc(T.add_note)}</button></div>`;
}
function alertCard(a) {
  const cams = a.cameras.map((c) => c.name).join(", ");
  const snap = a.snapshot_url ? `<img src="${esc(a.snapshot_url)}" alt="${esc(T.evidence)}">` : "";
  const clip = a.clip_url ? `<a class="button" href="${esc(a.clip_url)}" target="_blank" rel="noopener">▶ ${esc(T.clip)}</a>` : "";
  const acked = (a.agency_acks || []).length ? a.agency_acks.map((k) => `<div class="agency-ack" data-agency="${esc(k.agency)}">` +
    `${esc(T.acked_for)} <b>${esc(T["agency_" + k.agency] || k.agency)}</b>: ${esc(k.by)} ${esc(k.at_local)}</div>`).join("")
    : a.acked_by ? `<div>${esc(T.acked_by)}: <b>${esc(a.acked_by)}</b> ${esc(a.acked_local)}</div>` : "";
  const muted = a.muted ? `<div class="muted" title="${esc(a.muted)}">${esc(T.not_paged)}: ${esc(a.muted)}</div>` : "";
  return `<article class="alert${a.needs_ack ? " needs-ack" : ""}" data-id="${esc(a.id)}">
    <header><span class="what">${esc(kindText(a))}</span>${a.drill ? `<span class="badge drill">${esc(T.drill)}</span>` : ""}
      <span class="where">${esc(cams)}</span><span class="when">${esc(a.local_time)}</span>${stateBadge(a)}
      ${CAN_ACT && a.needs_ack ? `<button class="ack" data-act="ack">${esc(T.acknowledge)}</button>` : ""}</header>
    <div class="cols"><div class="snapshot">${snap}</div>
      <div class="side">${mapSvg(a)}${muted}${pagesTable(a)}${acked}${clip}${auditList(a)}</div></div>
    ${actions(a)}</article>`;
}
function historyRow(a) {
  return `<tr data-id="${esc(a.id)}"><td>${esc(a.local_time)}</td><td>${esc(a.cameras.map((c) => c.name).join(", "))}</td>` +
    `<td>${stateBadge(a)}</td><td>${esc(a.acked_by || "")}</td><td>${a.fixture_url && CAN_ACT ? `<a href="${esc(a.fixture_url)}">${esc(T.export_fixture)}</a>` : ""}</td></tr>`;
}

// What a card shows changes with its row, its pages' delivery states and its audit trail (notes).
function cardKey(a) { return [a.updated_at, a.pages.map((p) => p.status).join(), a.audit.length, (a.agency_acks || []).length].join("|"); }

function renderAlerts() {
  const list = [...alerts.values()].sort((x, y) => y.time - x.time);
  const open = list.filter((a) => a.open);
  const box = $("#open-alerts");
  // Keep a card an operator is typing in: redraw only cards whose alert changed.
  const present = new Set();
  for (const a of open) {
    present.add(a.id);
    let card = box.querySelector(`article[data-id="${CSS.escape(a.id)}"]`);
    if (card && card.dataset.updated === cardKey(a)) continue;
    const tmp = document.createElement("div");
    tmp.innerHTML = alertCard(a);
    const fresh = tmp.firstElementChild;
    fresh.dataset.updated = cardKey(a);
    const typed = card && $(".note", card) ? $(".note", card).value : "";
    if (card) card.replaceWith(fresh); else box.prepend(fresh);
    if (typed && $(".note", fresh)) $(".note", fresh).value = typed;
  }
  box.querySelectorAll("article.alert").forEach((el) => { if (!present.has(el.dataset.id)) el.remove(); });
  let empty = $(".empty", box);
  if (!open.length && !empty) { box.innerHTML = `<p class="empty">${esc(T.no_open_alerts)}</p>`; }
  else if (open.length && empty) empty.remove();
  const hist = $("#history tbody");
  if (hist) hist.innerHTML = list.filter((a) => !a.open).slice(0, 30).map(historyRow).join("");

  // Water first: a drowning outranks a blind camera in the banner.
  const waiting = open.filter((a) => a.needs_ack).sort((x, y) => (x.category === "water" ? 0 : 1) - (y.category === "water" ? 0 : 1));
  const banner = $("#banner");
  if (waiting.length) {
    const a = waiting[0];
    const drill = waiting.every((w) => w.drill);
    $(".banner-text", banner).textContent = `${drill ? T.banner_drill + " · " : ""}${kindText(a)} · ` +
      `${a.cameras.map((c) => c.name).join(", ")} · ${a.local_time.slice(11)}` + (waiting.length > 1 ? ` (+${waiting.length - 1})` : "");
    const water = waiting.some((w) => w.category === "water");
    banner.classList.toggle("drill", drill);
    banner.classList.toggle("camera", !water);
    banner.hidden = false;
    alarm.start(water ? "water" : "camera");
    document.title = "⚠ " + T.banner;
  } else {
    banner.hidden = true;
    alarm.stop();
    document.title = T.alerts;
  }
  updateSoundButton();
}

async function loadAlerts() {
  const resp = await fetch(`${QW.prefix}/api/alerts`, { credentials: "same-origin" });
  if (resp.status === 401) { location.href = `${QW.prefix}/login`; return; }
  const body = await resp.json();
  alerts.clear();
  for (const a of body.alerts) alerts.set(a.id, a);
  renderAlerts();
}

async function post(url, body) {
  const resp = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": QW.csrf }, body: JSON.stringify(body || {}),
  });
  let data = null;
  try { data = await resp.json(); } catch (_) { /* an answer without JSON still reports its status */ }
  if (!resp.ok) { toast(`${T.action_failed}: ${(data && data.detail) || resp.status}`); return null; }
  return data;
}

function onAction(ev) {
  const btn = ev.target.closest("button[data-act]");
  if (!btn) return;
  const card = btn.closest("article.alert");
  const id = card.dataset.id, act = btn.dataset.act;
  const base = `${QW.prefix}/api/alerts/${encodeURIComponent(id)}`;
  let req;
  if (act === "ack") req = post(`${base}/ack`);
  else if (act === "close") req = post(`${base}/close`, { outcome: $(".outcome", card).value, note: $(".note", card).value });
  else if (act === "note") {
    const note = $(".note", card).value.trim();
    if (!note) return;
    req = post(`${base}/note`, { note });
  }
  btn.disabled = true;
  req.then((a) => {
    btn.disabled = false;
    if (!a) return;
    if (act !== "ack") $(".note", card) && ($(".note", card).value = "");
    alerts.set(a.id, a); renderAlerts();
  });
}

// ---- camera health ----
function renderHealth(rows) {
  const grid = $("#health");
  if (!grid) return;
  grid.innerHTML = rows.map((r) => `<article class="cam-tile ${esc(r.state)}${r.muted ? " muted" : ""}" data-camera="${esc(r.camera)}" data-state="${esc(r.state)}">
    <div class="name">${esc(r.name)}</div><div class="state">${esc(T[r.state] || r.state)}</div>
    <dl><dt>${esc(T.fps)}</dt><dd>${r.fps == null ? "–" : esc(r.fps)}</dd>
    <dt>${esc(T.last_frame)}</dt><dd>${r.last_frame_age_s == null ? "–" : esc(T.seconds_ago.replace("{s}", r.last_frame_age_s))}</dd>
    ${r.reason ? `<dt>${esc(T.reason)}</dt><dd>${esc(r.reason)}</dd>` : ""}
    ${r.muted ? `<dt>${esc(T.muted)}</dt><dd class="muted">${esc(T.muted_until)} ${esc(r.muted.until_local)}: ${esc(r.muted.reason)} (${esc(r.muted.by)})</dd>` : ""}</dl>
    <button type="button" data-live="${esc(r.live_url)}" data-name="${esc(r.name)}">${esc(T.live)}</button></article>`).join("");
}
// The alerting service's own trouble ("store: disk full ...") and events too old to page, above and below the grid.
function renderService(data) {
  const box = $("#service-problems");
  if (box) {
    const problems = data.problems || [];
    box.innerHTML = problems.length ? `${esc(T.service_trouble)}:<ul>${problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul>` : "";
    box.hidden = !problems.length;
  }
  const late = $("#late-events");
  if (late) {
    const rows = data.late || [];
    late.innerHTML = rows.length ? `<h2>${esc(T.late_events)}</h2><ul>${rows.map((e) => `<li data-event="${esc(e.event_id)}">` +
      `${esc(e.time_local || "?")} · ${esc(e.camera_name || e.camera)} (${esc(e.camera)}) · ${esc(e.kind)}${e.drill ? " · " + esc(T.banner_drill) : ""} · ` +
      `${esc(T.received)} ${esc(e.received_local || "?")}</li>`).join("")}</ul>` : "";
    late.hidden = !rows.length;
  }
}
async function loadHealth() {
  const resp = await fetch(`${QW.prefix}/api/health`, { credentials: "same-origin" });
  if (resp.status === 401) { location.href = `${QW.prefix}/login`; return; }
  const data = await resp.json();
  renderHealth(data.cameras);
  renderService(data);
}
function onLive(ev) {
  const btn = ev.target.closest("button[data-live]");
  if (!btn) return;
  const dlg = $("#liveview");
  $(".live-title", dlg).textContent = btn.dataset.name;
  $("img", dlg).src = btn.dataset.live;
  dlg.addEventListener("close", () => { $("img", dlg).removeAttribute("src"); }, { once: true });
  dlg.showModal();
}

// ---- live push ----
// The server sends something at least every 10 s. A stream that goes quiet for 25 s (a proxy holding it
// open, a laptop waking from sleep) is treated as dead and reopened, and the page says so meanwhile.
let lastHeard = Date.now();
function connect() {
  const es = new EventSource(`${QW.prefix}/api/live`);
  window.quaywatch.events = es;
  const heard = () => { lastHeard = Date.now(); };
  es.addEventListener("hello", () => {
    heard();
    $("#conn") && ($("#conn").hidden = true);
    // Anything that changed while the stream was down: fetch the whole picture again.
    if (QW.page === "alerts") loadAlerts();
    if (QW.page === "cameras") loadHealth();
  });
  es.addEventListener("ping", heard);
  es.addEventListener("alert", (ev) => {
    heard();
    const a = JSON.parse(ev.data);
    if (QW.page !== "alerts") return;
    if (!alerts.has(a.id)) window.quaywatch.pushLatency.push({ id: a.id, ms: Date.now() - a.time * 1000 });
    alerts.set(a.id, a);
    renderAlerts();
  });
  es.addEventListener("health", (ev) => { heard(); if (QW.page === "cameras") renderHealth(JSON.parse(ev.data)); });
  es.addEventListener("resync", () => { heard(); if (QW.page === "alerts") loadAlerts(); });
  es.onerror = () => {
    $("#conn") && ($("#conn").hidden = false);
    checkLogin();
  };
}
// A login that ran out must not leave a wall screen showing a frozen page: go to the login form.
function checkLogin() {
  fetch(`${QW.prefix}/api/alerts?open=1`, { credentials: "same-origin" }).then((resp) => {
    if (resp.status === 401) location.href = `${QW.prefix}/login?next=${encodeURIComponent(location.pathname)}`;
  }).catch(() => { /* the service is away; EventSource keeps retrying */ });
}
setInterval(() => {
  const es = window.quaywatch.events;
  if (es && Date.now() - lastHeard > 25000) {
    $("#conn") && ($("#conn").hidden = false);
    es.close();
    lastHeard = Date.now();
    connect();
  }
}, 5000);

// Pages failing (Twilio down): said above everything on the alerts page, checked every 5 s. Not over SSE: it
// must show even when the alerts' own stream is what is stuck.
async function loadPaging() {
  const el = $("#paging");
  if (!el) return;
  try {
    const resp = await fetch(`${QW.prefix}/api/paging`, { credentials: "same-origin" });
    if (!resp.ok) return;
    const t = (await resp.json()).trouble;
    el.hidden = !t;
    if (t) el.textContent = T.paging_trouble.replace("{since}", t.since).replace("{error}", t.error || "?").replace("{owed}", t.owed);
  } catch (_) { /* the service is away: the connection notice says so */ }
}
if (QW.page === "alerts") { $("#open-alerts").addEventListener("click", onAction); loadAlerts(); loadPaging(); setInterval(loadPaging, 5000); }
if (QW.page === "cameras") {
  $("#health").addEventListener("click", onLive); loadHealth();
  setInterval(loadHealth, 10000);  // the service's trouble has no live event of its own
}
if (QW.page === "alerts" || QW.page === "cameras") connect();
updateSoundButton();
