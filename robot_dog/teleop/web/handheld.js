// The handheld page's behaviour. Protocol: robot_dog/teleop/protocol.py. The page mirrors what
// the dog reports (`state` every 0.2 s): a toggle shows the dog's state, never its own; a tap
// shows pending until the dog answers (`result`); a refusal arrives as a code and is worded from
// messages.js. Held by the e-stop: the stick greys out and the banner says who holds the dog,
// why, and the one action that clears it. The paired officer's name shows over the video (a tap
// signs out); a task from the station shows over the video with Accept / On scene / Task done,
// each answer a `task` frame the dog turns into an event for the station. Resume patrol (the
// restart interlock's deliberate action) and End goal stay in place, enabled only while the dog's
// state says they would do something, else disabled with the reason.
import {MESSAGES, format, pickLanguage} from "./messages.js";
import {startCapture} from "/shared/audio_capture.js";

const $ = id => document.getElementById(id);
const TOKEN_KEY = "robot-dog.handheld", LANG_KEY = "robot-dog.lang", THEME_KEY = "robot-dog.theme";
const LAPSE_MS = 600;          // no beat echo this long while paired: the link has lapsed
const BATTERY_LOW = 0.25, BATTERY_CRITICAL = 0.10;
const RELEASABLE = ["handheld", "boot"];   // holds this phone's Release may clear (docs/safety.md)

let lang = pickLanguage(localStorage.getItem(LANG_KEY), navigator.languages);
let ws = null, seq = 0, paired = false, held = null, driveTimer = null, stick = {x: 0, z: 0};
let dog = null;                       // the dog's last reported state
const pending = new Set();            // request kinds on their way (their toggles show pending)
const settling = new Map();           // answered kinds: pending until this many more state reports
const PAIR_CODES = ["wrong_code", "no_code_open", "code_void", "pairing_locked"];
let rtt = null, lastEcho = 0, lapsed = false, wasHeld = false;
const sentBeats = new Map();
let message = null;                   // {key, params} of the status line
const TASK_STATES = ["accepted", "on_scene", "done"];   // in order (robot_dog/teleop/tasks.py)
let taskAsked = null;                 // the task state on its way to the dog

const t = (key, params) => format(lang, key, params);
const linkOpen = () => Boolean(ws && ws.readyState === WebSocket.OPEN);
const send = (type, fields = {}) => {
  if (linkOpen()) ws.send(JSON.stringify({t: type, seq: ++seq, ...fields}));
};
// A parameter that is itself words is given as a function: worded when shown, so the line
// follows a change of language (a stored translation stayed in the old one).
const say = (key, params = {}) => { message = {key, params}; renderMessage(); };
const buzz = pattern => { if (navigator.vibrate) navigator.vibrate(pattern); };

// --- words ------------------------------------------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
    el.setAttribute("aria-label", t(el.dataset.i18nPlaceholder));
  }
  $("theme").textContent = t(document.body.dataset.theme === "day" ? "theme.night" : "theme.day");
  render();
}
function renderMessage() {
  const params = message ? Object.fromEntries(Object.entries(message.params).map(
    ([name, value]) => [name, typeof value === "function" ? value() : value])) : {};
  $("msg").textContent = message ? t(message.key, params) : "";
}
function refusalWords(code) {
  return `code.${code}` in MESSAGES.en ? t(`code.${code}`) : t("code.other", {code});
}

// --- the dog's state --------------------------------------------------------------------------
const TOGGLES = {
  light: {reported: s => s.light, ask: on => ["light", {on}]},
  siren: {reported: s => s.siren, ask: on => ["siren", {on}]},
  searchlight: {reported: s => s.searchlight, ask: on => ["searchlight", {on}]},
  speed: {reported: s => s.motion ? s.motion.speed_mode === "crowd" : null, ask: on => ["speed", {crowd: on}]},
  mode: {reported: s => s.motion ? s.motion.mode === "stand" : null,
         ask: on => ["mode", {mode: on ? "stand" : "sit"}]},
  talk: {reported: s => s.talk},
  // the recorder's word (bodycam/status): on while it records, whatever started it; null: off
  record: {reported: s => s.record, ask: on => ["record", {on}]},
};

// The patrol's actions: enabled only while the dog's own state says they would do something;
// else the reason, as a word key. Resume: the restart interlock keeps the patrol waiting for
// motion/resume (docs/safety.md), and no e-stop holds (the dog would refuse: estop_engaged).
// End goal: the patrol node has work under way (patrol/goal).
const PATROL_INPUT = "patrol";   // page_requests.PATROL_INPUT
const ACTIONS = {
  resume: s => s.estop && s.estop.engaged ? "action.held"
    : !s.motion ? "toggle.unknown"
    : (s.motion.waiting || []).includes(PATROL_INPUT) ? null : "action.not_paused",
  cancel: s => s.goal && s.goal.running ? null : "action.no_goal",
};
const ACTION_READY = {resume: "action.paused", cancel: "action.goal_on"};

function renderActions(s) {
  for (const b of document.querySelectorAll("[data-action]")) {
    const kind = b.dataset.action, busy = pending.has(kind);
    const why = !paired || !dog ? "toggle.unknown" : ACTIONS[kind](s);
    b.setAttribute("aria-busy", String(busy));
    b.setAttribute("aria-disabled", String(busy || why !== null));
    b.querySelector("small").textContent = t(busy ? "toggle.pending" : why || ACTION_READY[kind]);
  }
}

function render() {
  const s = dog || {};
  const estop = s.estop || null;
  const isHeld = Boolean(estop && estop.engaged);
  // toggles: the dog's word, pending while a request is on its way
  for (const b of document.querySelectorAll("[data-toggle]")) {
    const kind = b.dataset.toggle, on = paired && dog ? TOGGLES[kind].reported(s) : null;
    const busy = pending.has(kind);
    b.setAttribute("aria-pressed", String(on === true));
    b.setAttribute("aria-busy", String(busy));
    b.setAttribute("aria-disabled", String(!paired));
    let state = busy ? t("toggle.pending") : on === null || on === undefined ? t("toggle.unknown")
      : t(on ? "toggle.on" : "toggle.off");
    if (kind === "mode" && !busy && on !== null && on !== undefined) state = t(on ? "toggle.stand" : "toggle.sit");
    b.querySelector("small").textContent = state;
  }
  // battery in colour and words
  const battery = $("battery");
  if (s.battery == null || !paired) {
    battery.className = "pill"; battery.textContent = t("battery.none");
  } else {
    const pct = Math.round(s.battery * 100);
    const level = s.battery < BATTERY_CRITICAL ? "critical" : s.battery < BATTERY_LOW ? "low" : "ok";
    battery.className = `pill ${level}`;
    battery.textContent = t(`battery.${level}`, {pct});
  }
  // e-stop pill and the held banner
  const pill = $("estop-state");
  pill.className = `pill${isHeld ? " engaged" : estop && estop.autonomy_held ? " low" : ""}`;
  pill.textContent = !estop || !paired ? t("estop.none") : isHeld ? t("estop.on")
    : estop.autonomy_held ? t("estop.autonomy") : t("estop.off");
  renderBanner(paired && isHeld ? estop : null);
  if (isHeld && !wasHeld) { buzz([200, 100, 200]); release(); }
  wasHeld = isHeld;
  const stickOff = !paired || isHeld;
  $("stick").classList.toggle("disabled", stickOff);
  $("stick").setAttribute("aria-disabled", String(stickOff));
  for (const id of ["estop", "leave"]) $(id).setAttribute("aria-disabled", String(!paired));
  $("pair").hidden = paired;
  // a tap before the link is up would be lost: Pair waits for it (the status line says so)
  $("pair-button").disabled = !linkOpen();
  const officer = $("officer");
  officer.hidden = !paired || !s.officer;
  officer.textContent = s.officer ? t("officer.badge", {name: s.officer}) : "";
  renderTask(paired ? s.task || null : null);
  renderActions(s);
  renderLink();
  // the restart interlock waits for the stick at neutral (docs/safety.md): say so, unless a
  // refusal is being shown
  if (paired && !isHeld && s.motion && (s.motion.waiting || []).includes("handheld")
      && held === null && !(message && message.key === "msg.refused")) {
    $("msg").textContent = t("waiting.stick");
  }
}

function renderBanner(estop) {
  const banner = $("banner");
  banner.hidden = estop === null;
  if (estop === null) return;
  const holds = estop.holds || [];
  const list = $("banner-holds");
  list.replaceChildren(...holds.map(h => {
    const li = document.createElement("li");
    const key = `held.by.${h.endpoint}.${h.cause}`;
    li.textContent = key in MESSAGES.en ? t(key) : t("held.by.other", {endpoint: h.endpoint, cause: h.cause});
    return li;
  }));
  const mine = holds.filter(h => RELEASABLE.includes(h.endpoint));
  const others = holds.filter(h => !RELEASABLE.includes(h.endpoint));
  const lapsedHere = mine.some(h => h.cause === "deadline_missed") || (estop.stale || []).includes("handheld");
  const actions = [];
  if (mine.length) actions.push(t(lapsedHere ? "do.handheld.deadline_missed" : "do.handheld.engaged"));
  for (const h of others) {
    const key = `do.${h.endpoint}`;
    const words = key in MESSAGES.en ? t(key) : t("do.unknown");
    if (!actions.includes(words)) actions.push(words);
  }
  $("banner-do").textContent = actions.join(" ");
  const button = $("release");
  button.hidden = mine.length === 0;
  button.textContent = t(lapsedHere ? "button.checkin_release" : "button.release");
  button.setAttribute("aria-busy", String(pending.has("release")));
}

function renderTask(task) {
  const card = $("task");
  card.hidden = task === null;
  if (task === null) return;
  $("task-title").textContent = t("task.title", {incident: task.incident});
  $("task-what").textContent = task.what;
  $("task-where").textContent = task.frame === "wgs84"
    ? t("task.where.wgs84", {lat: task.x.toFixed(5), lon: task.y.toFixed(5)})
    : t("task.where.odom", {x: task.x.toFixed(1), y: task.y.toFixed(1)});
  $("task-from").textContent = t("task.from", {from: task.from, dog: task.dog});
  const reached = TASK_STATES.indexOf(task.state);
  for (const b of card.querySelectorAll("[data-task]")) {
    const at = TASK_STATES.indexOf(b.dataset.task);
    b.setAttribute("aria-pressed", String(at <= reached));
    b.setAttribute("aria-disabled", String(at <= reached));
    b.setAttribute("aria-busy", String(pending.has("task") && taskAsked === b.dataset.task));
  }
}

function renderLink() {
  const el = $("link");
  const staleHere = dog && dog.estop && (dog.estop.stale || []).includes("handheld");
  if (paired && (lapsed || staleHere)) {
    el.className = "pill lost"; el.textContent = t(lapsed ? "link.lost" : "link.lapsed");
  } else if (!paired || rtt === null) {
    el.className = "pill down"; el.textContent = t("link.none");
  } else {
    el.className = `pill ${rtt < 150 ? "good" : rtt < 400 ? "fair" : "poor"}`;
    el.textContent = t(rtt < 150 ? "link.ok" : "link.slow", {ms: Math.round(rtt)});
  }
}

// --- the WebSocket --------------------------------------------------------------------------
function connect() {
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.binaryType = "blob";
  ws.onopen = () => {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) send("hello", {token});
    if (message && ["msg.connecting", "msg.reconnecting"].includes(message.key)) { message = null; renderMessage(); }
    render();
  };
  ws.onmessage = event => {
    if (typeof event.data !== "string") { showFrame(event.data); return; }
    const m = JSON.parse(event.data);
    if (m.t === "paired") {
      sessionStorage.setItem(TOKEN_KEY, m.token);
      paired = true; lastEcho = performance.now(); say("msg.paired"); render();
    } else if (m.t === "beat") {
      const sent = sentBeats.get(m.seq); sentBeats.delete(m.seq);
      if (sent !== undefined) { rtt = performance.now() - sent; lastEcho = performance.now(); lapsed = false; renderLink(); }
    } else if (m.t === "state") {
      dog = m;
      if (pending.has("talk") && m.talk === talkWanted) pending.delete("talk");
      // an accepted request stays pending until the dog's reports had time to show its effect
      for (const [kind, left] of settling) {
        if (left <= 1) { settling.delete(kind); pending.delete(kind); } else settling.set(kind, left - 1);
      }
      render();
    } else if (m.t === "result") {
      // an action, like a toggle, stays pending until the state had time to show it done
      if (m.ok && (m.kind in TOGGLES || m.kind in ACTIONS)) settling.set(m.kind, 2); else pending.delete(m.kind);
      if (m.ok) {
        if (["release", "estop", "resume", "cancel"].includes(m.kind)) say("msg.ok", {what: () => t(`what.${m.kind}`)});
        if (m.kind === "task") { const state = taskAsked; say("msg.task", {state: () => t(`task.state.${state}`)}); }
      }
      else say("msg.refused", {what: () => t(`what.${m.kind}`), why: () => refusalWords(m.code)});
      render();
    } else if (m.t === "refused") {
      const what = PAIR_CODES.includes(m.code) ? "what.pair" : "what.page";
      say("msg.refused", {what: () => t(what), why: () => refusalWords(m.code)});
      if (m.code === "not_paired" || m.code === "pair_first") {
        // a lost handheld's pairing is void on the dog: pair again with a new code
        sessionStorage.removeItem(TOKEN_KEY);
        paired = false; render();
      } else if (m.code === "not_talking" && talkWanted) rearmTalk();
    }
  };
  ws.onclose = event => {
    release(); stopTalk();
    const was = paired;
    paired = false; dog = null; pending.clear(); settling.clear(); rtt = null;
    if (was) buzz([300, 100, 300]);
    // revoked on the dog or by the station, or signed out here: this phone's token is void
    if (event.code === 4004 || event.code === 4005) sessionStorage.removeItem(TOKEN_KEY);
    say({4001: "msg.replaced", 4004: "msg.revoked", 4005: "msg.signed_out"}[event.code] || "msg.reconnecting");
    render();
    setTimeout(connect, 1000);
  };
}

function showFrame(blob) {
  const video = $("video"), old = video.src;
  video.src = URL.createObjectURL(blob);
  video.hidden = false;
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

// --- joystick with deadman: drive frames at 20 Hz while held, stop at once on release -------
function place(event) {
  const box = $("stick").getBoundingClientRect(), r = box.width / 2;
  let dx = (event.clientX - box.left - r) / r, dy = (event.clientY - box.top - r) / r;
  const len = Math.hypot(dx, dy);
  if (len > 1) { dx /= len; dy /= len; }
  $("knob").style.transform = `translate(${dx * (r - 42)}px, ${dy * (r - 42)}px)`;
  const dead = v => Math.abs(v) < 0.08 ? 0 : Math.round(v * 1000) / 1000;
  stick = {x: dead(-dy), z: dead(-dx)};
}
function release() {
  if (held === null) return;
  held = null; clearInterval(driveTimer); driveTimer = null;
  $("stick").classList.remove("held");
  $("knob").style.transform = "";
  stick = {x: 0, z: 0};
  send("stop");
}
$("stick").addEventListener("pointerdown", event => {
  if (!paired || held !== null || (dog && dog.estop && dog.estop.engaged)) return;
  held = event.pointerId;
  $("stick").setPointerCapture(held);
  $("stick").classList.add("held");
  place(event);
  send("drive", stick);
  driveTimer = setInterval(() => send("drive", stick), 50);
});
$("stick").addEventListener("pointermove", event => { if (event.pointerId === held) place(event); });
for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
  $("stick").addEventListener(type, event => { if (event.pointerId === held) release(); });
}
document.addEventListener("visibilitychange", () => { if (document.hidden) { release(); stopTalk(); } });
window.addEventListener("blur", release);

// --- buttons --------------------------------------------------------------------------------
$("pair").addEventListener("submit", event => {
  event.preventDefault();
  send("pair", {code: $("code").value.trim()});
});
$("estop").addEventListener("pointerdown", () => { release(); send("estop"); buzz(200); });
$("leave").addEventListener("click", () => {
  if (!paired) return;
  release(); send("leave"); say("msg.done");
});
$("officer").addEventListener("click", () => {
  if (paired && dog && dog.officer && window.confirm(t("confirm.unpair", {name: dog.officer}))) {
    release(); send("unpair");
  }
});
for (const b of document.querySelectorAll("[data-task]")) {
  b.addEventListener("click", () => {
    const task = paired && dog ? dog.task : null;
    if (!task || pending.has("task") || b.getAttribute("aria-disabled") === "true") return;
    taskAsked = b.dataset.task;
    pending.add("task");
    send("task", {incident: task.incident, state: taskAsked});
    render();
  });
}
$("release").addEventListener("click", () => {
  if (window.confirm(t("confirm.release"))) { pending.add("release"); send("release"); render(); }
});
for (const b of document.querySelectorAll("[data-action]")) {
  const kind = b.dataset.action;
  b.addEventListener("click", () => {
    if (!paired || !dog || b.getAttribute("aria-disabled") === "true") return;
    // the dog walks off by itself: ask first, as for a release
    if (kind === "resume" && !window.confirm(t("confirm.resume"))) return;
    pending.add(kind);
    send(kind);
    render();
  });
}
for (const b of document.querySelectorAll("[data-toggle]")) {
  const kind = b.dataset.toggle;
  if (kind === "talk") continue;
  b.addEventListener("click", () => {
    if (!paired || !dog || pending.has(kind)) return;
    const on = TOGGLES[kind].reported(dog) !== true;   // the opposite of what the dog reports
    const [type, fields] = TOGGLES[kind].ask(on);
    pending.add(kind);
    send(type, fields);
    render();
  });
}
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem(LANG_KEY, lang);
  applyLanguage(); renderMessage();
});
$("theme").addEventListener("click", () => {
  document.body.dataset.theme = document.body.dataset.theme === "day" ? "night" : "day";
  localStorage.setItem(THEME_KEY, document.body.dataset.theme);
  applyLanguage();
});

// --- push-to-talk: microphone -> 16 kHz s16le mono chunks of 2,048 samples (128 ms) ----------
let talk = null, talkWanted = false, talkRearmedAt = 0;
async function startTalk() {
  if (!paired || talkWanted) return;
  talkWanted = true;
  pending.add("talk"); render();
  try {
    const capture = await startCapture({sampleRate: 16000, chunkSamples: 2048, onChunk: buffer => {
      if (talkWanted && ws && ws.readyState === WebSocket.OPEN) ws.send(buffer);
    }});
    if (!talkWanted) { capture.stop(); return; }
    talk = capture;
    send("talk", {on: true});
    say("msg.talking");
  } catch (err) {
    say("msg.no_mic");
    stopTalk();
  }
}
// The dog drops push-to-talk when the heartbeat lapses; still held when the link is back = talk.
function rearmTalk() {
  const now = performance.now();
  if (now - talkRearmedAt < 500) return;
  talkRearmedAt = now;
  send("talk", {on: true});
}
function stopTalk() {
  const was = talkWanted;
  talkWanted = false;
  if (talk) { talk.stop(); talk = null; }
  if (was) { send("talk", {on: false}); pending.add("talk"); render(); }
}
$("talk").addEventListener("pointerdown", startTalk);
for (const type of ["pointerup", "pointercancel", "pointerleave"]) $("talk").addEventListener(type, stopTalk);

// heartbeat 10 Hz; its echo measures the link, its absence is a lapse. Before pairing one every
// 5 s keeps the connection open while the officer types the code (the dog closes idle ones).
let lastBeat = 0;
setInterval(() => {
  const now = performance.now();
  if (paired && !lapsed && now - lastEcho > LAPSE_MS) { lapsed = true; buzz([300, 100, 300]); renderLink(); }
  if (!paired && now - lastBeat < 5000) return;
  lastBeat = now;
  sentBeats.set(seq + 1, now); send("beat");
  if (sentBeats.size > 50) sentBeats.clear();
}, 100);

// A scanned invitation carries the pairing code in the fragment (never sent to the server):
// fill it in and take it out of the address bar and history.
const invited = /^#code=(\d{6})$/.exec(location.hash);
if (invited) { $("code").value = invited[1]; history.replaceState(null, "", location.pathname); }
document.body.dataset.theme = localStorage.getItem(THEME_KEY) === "night" ? "night" : "day";
say("msg.connecting");
applyLanguage();
connect();
