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
// Plain words for what happened: "faldt i vandet", not "water_entry 0.90".
function kindText(a) { return T["kind_" + a.kind] || a.kind.replaceAll("_", " "); }
function bannerWord(a) {
  return a.category === "water" ? T.banner : kindText(a).toUpperCase();
}
function stateBadge(a) {
  const word = T["state_" + a.state] || a.state;
  const outcome = a.outcome ? " · " + (T[a.outcome] || a.outcome) : "";
  return `<span class="badge ${esc(a.state)}">${esc(word + outcome)}</span>`;
}
function fmt(template, values) { return template.replace(/\{(\w+)\}/g, (_, k) => values[k]); }

// Where he is: a Leaflet map of the site's quays and water (GeoJSON from the site file, no tiles), the
// cameras' view cones and the spot. Drawn once per card and kept across redraws of the card.
const maps = new Map();
window.quaywatch.maps = maps;
const HARBOUR_STYLE = {
  water: { color: "#4fa3ff", weight: 1, fillColor: "#0b3d66", fillOpacity: 1 },
  quay: { color: "#9aa4ae", weight: 2, fillColor: "#2b3138", fillOpacity: 1 },
  land: { color: "#6b747d", weight: 1, fillColor: "#23282e", fillOpacity: 1 },
  bridge: { color: "#c9d1d9", weight: 5 },
};
function positionText(a) {
  const p = a.position;
  if (!p) return "";
  const where = `<a href="geo:${p.lat},${p.lon}">${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}</a>`;
  return p.source === "ground" ? `${esc(T.position_ground)}: ${where}`
    : `${esc(fmt(T.position_camera, { m: p.uncertainty_m }))}: ${where}`;
}
function mapBox(a) {
  if (!QW.map || !a.position) return "";
  return `<figure class="map" data-key="${esc(JSON.stringify(a.position))}"><div class="leaflet-box" role="img" aria-label="${esc(T.map)}"></div>` +
    `<figcaption class="position ${esc(a.position.source)}">${positionText(a)}</figcaption></figure>`;
}
function drawMap(card, a) {
  const box = $(".leaflet-box", card);
  if (!box || !window.L || box.dataset.drawn) return;
  box.dataset.drawn = "1";
  // Every layer built first and the view fitted to them, then added: Leaflet projects a layer as it is
  // added, which needs the view.
  const layers = [];
  const bounds = L.latLngBounds([]);
  if (QW.map.geojson) {
    const harbour = L.geoJSON(QW.map.geojson, {
      style: (f) => {
        const kind = (f.properties && f.properties.kind) || "land";
        return { ...(HARBOUR_STYLE[kind] || HARBOUR_STYLE.land), className: "harbour-" + kind };
      },
      interactive: false,
    });
    layers.push(harbour);
    bounds.extend(harbour.getBounds());
  }
  for (const c of QW.map.cameras) {
    if (c.cone) {
      const cone = L.polygon(c.cone, { className: "view-cone", color: "#ffd166", weight: 1, fillColor: "#ffd166", fillOpacity: 0.18, interactive: false });
      layers.push(cone);
      bounds.extend(cone.getBounds());
    }
    layers.push(L.circleMarker([c.lat, c.lon], { className: "camera-spot", radius: 5, color: "#000", weight: 1, fillColor: "#ffd166", fillOpacity: 1 })
      .bindTooltip(c.name, { permanent: true, direction: "right", className: "camera-name" }));
    bounds.extend([c.lat, c.lon]);
  }
  const p = a.position;
  if (p.source !== "ground" && p.uncertainty_m) {
    layers.push(L.circle([p.lat, p.lon], { radius: p.uncertainty_m, className: "fall-area", color: "#ff2d55", weight: 2, dashArray: "6 4", fillOpacity: 0.08 }));
    bounds.extend(L.latLng(p.lat, p.lon).toBounds(2 * p.uncertainty_m));
  }
  layers.push(L.circleMarker([p.lat, p.lon], { className: "fall-spot", radius: 9, color: "#fff", weight: 3, fillColor: "#ff2d55", fillOpacity: 1 }));
  bounds.extend([p.lat, p.lon]);
  const m = L.map(box, { attributionControl: false, scrollWheelZoom: false, zoomSnap: 0.25 });
  m.fitBounds(bounds.pad(0.05));
  layers.forEach((layer) => layer.addTo(m));
  maps.set(a.id, m);
}

// Evidence read in one second: the person zoomed 4-8x beside the whole frame, and the clip in place,
// with the box drawn over the video by the page (the clip may be the camera's own stream, without one).
function evidence(a) {
  const crop = a.crop_url ? `<figure class="crop"><img src="${esc(a.crop_url)}" alt="${esc(T.crop)}"><figcaption>${esc(T.crop)}</figcaption></figure>` : "";
  const snap = a.snapshot_url ? `<figure class="frame"><img src="${esc(a.snapshot_url)}" alt="${esc(T.evidence)}"><figcaption>${esc(T.evidence)}</figcaption></figure>` : "";
  const box = a.bbox && a.frame_size ? `<div class="bbox" aria-hidden="true"><span>${esc(T.entry_here)}</span></div>` : "";
  const clip = a.clip_url ? `<figure class="clip"><div class="boxed"><video controls muted playsinline preload="auto" src="${esc(a.clip_url)}"></video>${box}</div><figcaption>${esc(T.clip)}</figcaption></figure>` : "";
  if (!crop && !snap && !clip) return "";
  return `<div class="evidence" data-key="${esc([a.crop_url, a.snapshot_url, a.clip_url].join("|"))}">${crop}${snap}${clip}</div>`;
}
// Positions set from script (CSSOM), not style="" attributes: the page's CSP allows no inline styles.
function placeBoxes(card, a) {
  if (!a.frame_size) return;
  const [w, h] = a.frame_size;
  card.querySelectorAll(".boxed").forEach((el) => { el.style.aspectRatio = `${w} / ${h}`; });
  if (!a.bbox) return;
  const [x, y, bw, bh] = a.bbox;
  card.querySelectorAll(".bbox:not([data-follow])").forEach((el) => {
    el.style.left = `${(100 * x) / w}%`; el.style.top = `${(100 * y) / h}%`;
    el.style.width = `${(100 * bw) / w}%`; el.style.height = `${(100 * bh) / h}%`;
  });
}
// The clip is the camera's own stream, with nothing drawn in. The detector's box on each of its frames comes
// beside it (boxes.json, seconds from the clip's start) and is moved here with the video, frame by frame;
// between the person's frames it is hidden, and its "went in here" label shows only around the entry.
// Without boxes (an older edge) the entry box stays where he went in.
function followBoxes(card, a) {
  const video = card.querySelector(".clip video"), el = card.querySelector(".clip .bbox");
  if (!a.boxes_url || !video || !el || video.dataset.boxes) return;
  video.dataset.boxes = "loading";
  fetch(a.boxes_url, { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)).then((doc) => {
    if (!doc || !doc.boxes.length) { video.dataset.boxes = "none"; return; }
    const [w, h] = doc.frame_size, bx = doc.boxes;
    const step = bx.length > 1 ? (bx[bx.length - 1][0] - bx[0][0]) / (bx.length - 1) : 0.2;
    el.dataset.follow = "1";
    const place = () => {
      const t = video.currentTime;
      let best = bx[0];
      for (const b of bx) if (Math.abs(b[0] - t) < Math.abs(best[0] - t)) best = b;
      const near = Math.abs(best[0] - t) <= Math.max(0.15, 1.5 * step);
      el.style.visibility = near ? "visible" : "hidden";
      el.style.left = `${(100 * best[1]) / w}%`; el.style.top = `${(100 * best[2]) / h}%`;
      el.style.width = `${(100 * best[3]) / w}%`; el.style.height = `${(100 * best[4]) / h}%`;
      el.classList.toggle("at-entry", Math.abs(t - doc.entry_t) <= 0.5);
      el.dataset.t = near ? String(best[0]) : "";
    };
    const onFrame = () => { place(); video.requestVideoFrameCallback(onFrame); };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
    video.addEventListener("timeupdate", place);
    video.addEventListener("seeked", place);
    video.dataset.boxes = String(bx.length);
    place();
  }).catch(() => { video.dataset.boxes = "none"; });
}
function pagesTable(a) {
  if (!a.pages.length) return "";
  const rows = a.pages.map((p) => `<tr><td>${esc(p.person)}</td><td>${esc(T["channel_" + p.channel] || p.channel)}</td>` +
    `<td>${esc(p.sent_local)}</td><td class="status-${esc(p.status)}" data-status="${esc(p.status)}">` +
    `${esc(T["status_" + p.status] || p.status)}${p.error_code ? " (" + esc(p.error_code) + ")" : ""}</td></tr>`).join("");
  return `<table class="pages"><thead><tr><th>${esc(T.paged)}</th><th></th><th>${esc(T.time)}</th><th>${esc(T.delivery)}</th></tr></thead><tbody>${rows}</tbody></table>`;
}
// The audit trail in the page's language: states, "(control room)" and the service's own notes.
const AUDIT_NOTES = [
  [/^acknowledged on the control-room page$/, () => T.note_acked_on_page],
  [/^(\w+) on (\S+) \(event .*\)$/, (m) => fmt(T.note_event, { what: T["kind_" + m[1]] || m[1], cam: m[2] })],
  [/^step (\d+)\/(\d+) round (\d+) \([^)]*\): (\w+) to ([^:]+): (\d+) sent, (\d+) failed/,
    (m) => fmt(T.note_step, { step: m[1], steps: m[2], round: m[3], channel: T["channel_" + m[4]] || m[4], to: m[5], sent: m[6], failed: m[7] })],
  [/^SMS reply with code$/, () => T.note_sms_reply],
  [/^camera (\S+) saw it too \(event .*\)$/, (m) => fmt(T.note_camera_too, { cam: m[1] })],
  [/^camera (\S+) back online \(event .*\)$/, (m) => fmt(T.note_camera_back, { cam: m[1] })],
];
function auditNote(note) {
  for (const [re, words] of AUDIT_NOTES) { const m = note.match(re); if (m) return words(m); }
  return note;
}
function auditActor(actor) {
  return T["actor_" + actor] || actor.replace(/ \(control room\)$/, ` (${T.via_controlroom})`);
}
function auditState(s) { return s ? (T["state_" + s] || s) : ""; }
function auditList(a) {
  if (!a.audit.length) return "";
  return `<details><summary>${esc(T.audit)}</summary><ul class="audit">` + a.audit.map((e) =>
    `<li>${esc(e.at_local)} · ${esc(auditActor(e.actor))} · ${esc(auditState(e.from))} → ${esc(auditState(e.to))}` +
    `${e.note ? " · " + esc(auditNote(e.note)) : ""}</li>`).join("") + "</ul></details>";
}
function actions(a) {
  if (!CAN_ACT || !a.open) return a.fixture_url && CAN_ACT ? `<div class="actions"><a class="button" href="${esc(a.fixture_url)}">${esc(T.export_fixture)}</a></div>` : "";
  const outcomes = ["resolved", "false_alarm", "drill", "real_incident"].map((o) => `<option value="${o}">${esc(T[o])}</option>`).join("");
  return `<div class="actions">
    <select class="outcome" aria-label="${esc(T.close_as)}">${outcomes}</select><button data-act="close">${esc(T.close_as)}</button>
    <textarea class="note" maxlength="2000" placeholder="${esc(T.note)}" aria-label="${esc(T.note)}"></textarea><button data-act="note">${esc(T.add_note)}</button></div>`;
}
function cardDomId(id) { return "alert-" + id; }
function alertCard(a) {
  const cams = a.cameras.map((c) => c.name).join(", ");
  const acked = (a.agency_acks || []).length ? a.agency_acks.map((k) => `<div class="agency-ack" data-agency="${esc(k.agency)}">` +
    `${esc(T.acked_for)} <b>${esc(T["agency_" + k.agency] || k.agency)}</b>: ${esc(k.by)} ${esc(k.at_local)}</div>`).join("")
    : a.acked_by ? `<div>${esc(T.acked_by)}: <b>${esc(a.acked_by)}</b> ${esc(a.acked_local)}</div>` : "";
  const muted = a.muted ? `<div class="muted" title="${esc(a.muted)}">${esc(T.not_paged)}: ${esc(a.muted)}</div>` : "";
  const sure = a.confidence != null && a.category === "water" ? `<span class="sure">${esc(fmt(T.confidence, { p: Math.round(a.confidence * 100) }))}</span>` : "";
  return `<article class="alert${a.needs_ack ? " needs-ack" : ""}" id="${esc(cardDomId(a.id))}" data-id="${esc(a.id)}">
    <header><span class="what">${esc(kindText(a))}</span>${a.drill ? `<span class="badge drill">${esc(T.drill)}</span>` : ""}
      <span class="where">${esc(cams)}</span><span class="when">${esc(a.local_time)}</span>${stateBadge(a)}${sure}
      ${CAN_ACT && a.needs_ack ? `<button class="ack" data-act="ack">${esc(T.acknowledge)}</button>` : ""}</header>
    <div class="cols"><div class="snapshot">${evidence(a)}</div>
      <div class="side">${mapBox(a)}${muted}${pagesTable(a)}${acked}${auditList(a)}</div></div>
    ${actions(a)}</article>`;
}
function historyRow(a) {
  return `<tr data-id="${esc(a.id)}"><td>${esc(a.local_time)}</td><td>${esc(kindText(a))} · ${esc(a.cameras.map((c) => c.name).join(", "))}</td>` +
    `<td>${stateBadge(a)}</td><td>${esc(a.acked_by || "")}</td><td>${a.fixture_url && CAN_ACT ? `<a href="${esc(a.fixture_url)}">${esc(T.export_fixture)}</a>` : ""}</td></tr>`;
}

// What a card shows changes with its row, its pages' delivery states and its audit trail (notes).
function cardKey(a) { return [a.updated_at, a.pages.map((p) => p.status).join(), a.audit.length, (a.agency_acks || []).length].join("|"); }

// One list by urgency: waiting for acknowledgement (a drowning before a blind camera), then acknowledged,
// then closed (the history table); newest first within each. The same order on load and for pushed cards.
function rank(a) { return a.needs_ack ? 0 : a.open ? 1 : 2; }
function byUrgency(x, y) {
  const water = (a) => (a.needs_ack && a.category !== "water" ? 1 : 0);
  return rank(x) - rank(y) || water(x) - water(y) || y.time - x.time;
}
const announced = new Set();   // alarms already brought into view once
window.quaywatch.order = () => [...document.querySelectorAll("#open-alerts article.alert")].map((el) => el.dataset.id);

function scrollToAlert(id) {
  const card = document.getElementById(cardDomId(id));
  if (!card) return;
  card.scrollIntoView({ block: "start" });
  // The keyboard goes to its Acknowledge button, unless the operator is typing (a note elsewhere).
  const busy = document.activeElement && document.activeElement.matches("textarea, input, select");
  const ack = $("button.ack", card);
  if (ack && !busy) ack.focus({ preventScroll: true });
}

function renderAlerts() {
  const list = [...alerts.values()].sort(byUrgency);
  const open = list.filter((a) => a.open);
  const box = $("#open-alerts");
  let empty = $(".empty", box);
  if (open.length && empty) empty.remove();
  // Keep a card an operator is typing in, and its playing clip and map: redraw only what changed, and
  // move a card only when it is out of place.
  const present = new Set();
  let prev = null;
  for (const a of open) {
    present.add(a.id);
    let card = box.querySelector(`article[data-id="${CSS.escape(a.id)}"]`);
    if (!card || card.dataset.updated !== cardKey(a)) {
      const tmp = document.createElement("div");
      tmp.innerHTML = alertCard(a);
      const fresh = tmp.firstElementChild;
      fresh.dataset.updated = cardKey(a);
      if (card) {
        const typed = $(".note", card) ? $(".note", card).value : "";
        for (const sel of [".evidence", ".map"]) {
          const old = $(sel, card), now = $(sel, fresh);
          if (old && now && old.dataset.key === now.dataset.key) now.replaceWith(old);
        }
        card.replaceWith(fresh);
        if (typed && $(".note", fresh)) $(".note", fresh).value = typed;
      } else {
        box.append(fresh);
      }
      card = fresh;
      placeBoxes(card, a);
      followBoxes(card, a);
    }
    const want = prev ? prev.nextElementSibling : box.firstElementChild;
    if (card !== want) box.insertBefore(card, want);
    try { drawMap(card, a); } catch (err) { console.error("map", err); }  // a map must never cost the alarm list
    prev = card;
  }
  box.querySelectorAll("article.alert").forEach((el) => {
    if (!present.has(el.dataset.id)) { const m = maps.get(el.dataset.id); if (m) { m.remove(); maps.delete(el.dataset.id); } el.remove(); }
  });
  empty = $(".empty", box);
  if (!open.length && !empty) { box.innerHTML = `<p class="empty">${esc(T.no_open_alerts)}</p>`; }
  const hist = $("#history tbody");
  if (hist) hist.innerHTML = list.filter((a) => !a.open).slice(0, 30).map(historyRow).join("");

  const waiting = open.filter((a) => a.needs_ack);   // in list order: the banner's alarm is the top card
  const banner = $("#banner");
  if (waiting.length) {
    const a = waiting[0];
    const drill = waiting.every((w) => w.drill);
    const link = $(".banner-text", banner);
    link.textContent = `${drill ? T.banner_drill + " · " : ""}${bannerWord(a)} · ${kindText(a)} · ` +
      `${a.cameras.map((c) => c.name).join(", ")} · ${a.local_time.slice(11)}` + (waiting.length > 1 ? ` (+${waiting.length - 1})` : "");
    link.href = "#" + cardDomId(a.id);
    link.dataset.id = a.id;
    const water = waiting.some((w) => w.category === "water");
    banner.classList.toggle("drill", drill);
    banner.classList.toggle("camera", !water);
    banner.hidden = false;
    alarm.start(water ? "water" : "camera");
    document.title = "⚠ " + T.banner;
    // A new alarm comes into view by itself (the newest waiting one is the top card).
    const fresh = waiting.filter((w) => !announced.has(w.id));
    fresh.forEach((w) => announced.add(w.id));
    if (fresh.length) scrollToAlert(a.id);
  } else {
    banner.hidden = true;
    alarm.stop();
    document.title = T.alerts;
  }
  updateSoundButton();
}
function onBanner(ev) {
  const link = ev.target.closest("a.banner-text");
  if (!link || !link.dataset.id) return;
  ev.preventDefault();
  scrollToAlert(link.dataset.id);
}

// Alerts pushed while a full load is in flight. The list the server answers may have been read before
// such an alarm was stored: replacing the page's alerts with it would drop a new alarm from the screen
// until its next change. So what was pushed meanwhile is laid over the list, the newer copy winning.
const pushedDuringLoad = new Set();
async function loadAlerts() {
  const pushed = new Map();
  pushedDuringLoad.add(pushed);
  try {
    const resp = await fetch(`${QW.prefix}/api/alerts`, { credentials: "same-origin" });
    if (resp.status === 401) { location.href = `${QW.prefix}/login`; return; }
    const body = await resp.json();
    alerts.clear();
    for (const a of body.alerts) alerts.set(a.id, a);
    for (const [id, a] of pushed) {
      const listed = alerts.get(id);
      if (!listed || (a.updated_at || 0) >= (listed.updated_at || 0)) alerts.set(id, a);
    }
    renderAlerts();
  } finally {
    pushedDuringLoad.delete(pushed);
  }
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
    // Taken: the next alarm that waits for someone comes into view (the top card).
    if (act === "ack") {
      const next = [...alerts.values()].filter((x) => x.needs_ack).sort(byUrgency)[0];
      if (next) scrollToAlert(next.id);
    }
  });
}

// ---- camera health ----
// "for 3 min siden": when an offline camera was last seen, in words, counted on while the page is open.
function agoText(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return fmt(T.ago_s, { n: s });
  if (s < 90 * 60) return fmt(T.ago_min, { n: Math.round(s / 60) });
  if (s < 36 * 3600) return fmt(T.ago_h, { n: Math.round(s / 3600) });
  return fmt(T.ago_days, { n: Math.round(s / 86400) });
}
let healthRows = [], healthAt = 0;
function renderHealth(rows) {
  const grid = $("#health");
  if (!grid) return;
  if (rows) { healthRows = rows; healthAt = Date.now(); }
  const since = (Date.now() - healthAt) / 1000;
  grid.innerHTML = healthRows.map((r) => {
    // An offline camera has no frame rate: only when it was last seen, and why, in plain words.
    const facts = r.state === "offline"
      ? `<dt>${esc(T.last_seen)}</dt><dd class="last-seen">${r.last_seen_ago_s == null ? esc(T.never_seen) : esc(agoText(r.last_seen_ago_s + since))}</dd>`
      : `<dt>${esc(T.fps)}</dt><dd class="fps">${r.fps == null ? "–" : esc(r.fps)}</dd>
         <dt>${esc(T.last_frame)}</dt><dd>${r.last_frame_age_s == null ? "–" : esc(T.seconds_ago.replace("{s}", r.last_frame_age_s))}</dd>`;
    const why = r.reason ? `<dt>${esc(T.reason)}</dt><dd class="reason">${esc(T["reason_" + r.reason] || T.reason_fault)}</dd>` : "";
    const muted = r.muted ? `<dt>${esc(T.muted)}</dt><dd class="muted">${esc(T.muted_until)} ${esc(r.muted.until_local)}: ${esc(r.muted.reason)} (${esc(r.muted.by)})</dd>` : "";
    return `<article class="cam-tile ${esc(r.state)}${r.muted ? " muted" : ""}" data-camera="${esc(r.camera)}" data-state="${esc(r.state)}">
    <div class="name">${esc(r.name)}</div><div class="state">${esc(T[r.state] || r.state)}</div>
    <dl>${facts}${why}${muted}</dl>
    <button type="button" data-live="${esc(r.live_url)}" data-name="${esc(r.name)}">${esc(T.live)}</button></article>`;
  }).join("");
}
setInterval(() => { if (QW.page === "cameras" && healthRows.length) renderHealth(); }, 10000);
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
    for (const m of pushedDuringLoad) m.set(a.id, a);
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
if (QW.page === "alerts") { $("#open-alerts").addEventListener("click", onAction); $("#banner").addEventListener("click", onBanner); loadAlerts(); loadPaging(); setInterval(loadPaging, 5000); }
if (QW.page === "cameras") {
  $("#health").addEventListener("click", onLive); loadHealth();
  setInterval(loadHealth, 10000);  // the service's trouble has no live event of its own
}
if (QW.page === "alerts" || QW.page === "cameras") connect();
updateSoundButton();
