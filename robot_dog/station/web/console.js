// The station console: fleet overview (video wall), dog view, alarm queue, evidence. Everything
// live arrives on one WebSocket (live.js); the JSON API is used for the login, the verb list
// and the evidence. Data is always set as text (textContent, attributes), never parsed as HTML.
//
// Who may do what is the station's role table (docs/security.md, "People and roles"): the page
// hides the controls of actions the account's role lacks (the `hello` message lists its
// actions), and the station refuses them anyway.
import {h} from "./dom.js";
import {Live} from "./live.js";
import {clock, initialLanguage, language, setLanguage, t} from "./i18n.js";
import {DogMap} from "./map.js";
import {Charts, sampleOf} from "./charts.js";
import {alarmText, argLabel, codeLabel, deviceLine, inputLabel, payloadSummary, refusalWords, valueLabel, verbLabel} from "./labels.js";
import {json} from "./answers.js";
import {EvidenceBrowser} from "./evidence.js";
import {DogAudio} from "./audio.js";
import {PeoplePanel} from "./admin.js";
import {IncidentDesk} from "./incidents.js";

const STALE_S = 5;          // no frame for this long: NO SIGNAL
const TRACK_POINTS = 2000;
//: An unacknowledged critical alarm sounds again this often until someone acknowledges it, ms.
const ALARM_REPEAT_MS = 3000;

const state = {
  name: null, role: null, csrf: null, actions: new Set(), verbActions: {}, proven: false,
  commandsOn: false, degradedAfterS: 10, evidenceOn: false,
  // the station's alarm policy's low-battery levels (hello): red below critical, amber below warning
  battery: {warning: 0.20, critical: 0.15},
  alarmMuted: localStorage.getItem("console.alarm_muted") === "1",
  dogs: new Map(), alarms: [], verbs: [], presets: {}, layout: Number(localStorage.getItem("console.layout") || 4),
  view: null, live: null, commandSeq: 0, commands: new Map(),
};
//: Verbs the dog view does not list as plain controls: they have their own place (e-stop,
//: announcement), are the station's own (check-in) or an incident's (an officer's task), need
//: audio (listen, talk) or are the people panel's (a handheld pairing code).
const OWN_PLACE = ["estop", "estop_release", "announce", "checkin", "task", "listen", "talk", "pair_handheld"];

/** Whether the account's role may do `action` (roles.ACTIONS, sent in `hello`). */
function can(action) { return state.actions.has(action); }
/** The action a verb needs (roles.command_action: e-stop and release are `estop`, ...). */
function actionOf(verb) { return state.verbActions[verb] || "command"; }

// --- DOM helpers --------------------------------------------------------------------------
const $ = selector => document.querySelector(selector);
// --- dogs ---------------------------------------------------------------------------------
function dog(name) {
  let d = state.dogs.get(name);
  if (!d) {
    d = {name, status: "unknown", seenMs: 0, telemetry: {}, cameras: [], frame: null,
         frameMs: 0, track: [], history: [], lastAlarm: null, tile: null, url: null};
    state.dogs.set(name, d);
  }
  return d;
}

function nowS() { return Date.now() / 1000; }

function health(d) {
  if (d.status !== "online") return d.status;
  return (performance.now() - d.seenMs) / 1000 > state.degradedAfterS ? "degraded" : "online";
}

function stale(d) {
  return d.status !== "online" || !d.frame || (performance.now() - d.frameMs) / 1000 > STALE_S;
}

function disabledReason(d) {
  if (!state.commandsOn) return t("reason_no_commands");
  if (!state.proven) return t("reason_live");
  if (d.status !== "online") return t("reason_offline", {dog: d.name});
  if (stale(d)) return t("reason_stale", {dog: d.name});
  return "";
}

/** Why the dog view's button for `verb` is disabled ("" when it may be pressed): the dog-wide
 *  reason first (offline, no signal), then the role table, then what the dog serves (its
 *  telemetry's `served`, from the verb registry on the dog; unknown from an older dog: no
 *  reason). The E-STOP is never held back by `served`: a stop is always tried. */
function verbReason(d, verb) {
  const reason = disabledReason(d);
  if (reason) return reason;
  if (!can(actionOf(verb))) return t("reason_role", {role: t(`role_${state.role}`, {}, state.role)});
  const served = d.telemetry.served;
  if (verb !== "estop" && Array.isArray(served) && !served.includes(verb)) return t("reason_not_served");
  return "";
}

/** Lower first: the dog that needs attention first leads the wall. */
function attention(d) {
  const s = d.telemetry.safety || {};
  const battery = (d.telemetry.battery || {}).percentage;
  const unacked = state.alarms.some(a => a.dog === d.name && a.severity === "critical" && !a.acked_by);
  if (s.estop) return 0;
  if (d.status !== "online" || stale(d)) return 1;
  if (unacked) return 2;
  if (battery !== undefined && battery < state.battery.critical) return 3;
  if (health(d) === "degraded") return 4;
  return 5;
}

// --- the wall -----------------------------------------------------------------------------
function tileFor(d) {
  if (d.tile) return d.tile;
  const tile = h("article", {class: "tile", "data-dog": d.name},
    h("header", {}, h("span", {class: "name"}), h("span", {class: "banner"})),
    h("div", {class: "frame", onclick: () => openDog(d.name)},
      h("img", {class: "video", alt: ""}), h("div", {class: "nosignal"})),
    h("div", {class: "facts"}, h("span", {class: "estop"}), h("span", {class: "driver"}),
      h("span", {class: "battery"}), h("span", {class: "payload"}), h("span", {class: "link"})),
    h("div", {class: "lastalarm"}),
    h("div", {class: "commands"},
      h("button", {class: "estop-button", "data-verb": "estop", type: "button", i18n: "estop",
                   onclick: () => estop(d.name)}),
      h("button", {"data-verb": "estop_release", type: "button", i18n: "release",
                   onclick: () => release(d.name)})),
    h("div", {class: "result"}));
  tile.querySelector(".name").textContent = d.name;
  d.tile = tile;
  return tile;
}

function renderTile(d, root) {
  const s = d.telemetry.safety || {};
  const status = health(d);
  const banner = root.querySelector(".banner");
  banner.textContent = t(status);
  banner.className = `banner state-${status}`;
  root.classList.toggle("estopped", Boolean(s.estop));
  root.querySelector(".estop").textContent = s.estop ? t("estopped", {reason: s.estop_reason || "?"}) : "";
  root.querySelector(".driver").textContent = s.active_input ? t("driver", {input: inputLabel(s.active_input)}) : t("no_driver");
  const battery = (d.telemetry.battery || {}).percentage;
  const bat = root.querySelector(".battery");
  bat.textContent = battery === undefined ? t("no_battery") : t("battery", {pct: `${Math.round(battery * 100)} %`});
  bat.className = `battery ${battery === undefined ? "" : battery < state.battery.critical ? "low" : battery < state.battery.warning ? "warn" : "ok"}`;
  root.querySelector(".payload").textContent = payloadSummary(d.telemetry.payload || {});
  const link = d.telemetry.link || {};
  root.querySelector(".link").textContent = link.rtt_ms === undefined ? "" : t("link", {v: `${Math.round(link.rtt_ms)} ms`});
  const last = d.lastAlarm;
  root.querySelector(".lastalarm").textContent = last ? `${clock(last.ts)} ${alarmText(last)}` : "";
  const noSignal = stale(d);
  root.classList.toggle("stale", noSignal);
  const overlay = root.querySelector(".nosignal");
  overlay.hidden = !noSignal;
  overlay.textContent = d.frame ? t("no_signal", {time: clock(d.frame.received)}) : t("no_signal_never");
  const reason = disabledReason(d);
  for (const button of root.querySelectorAll(".commands > button[data-verb]")) {
    button.hidden = !can(actionOf(button.dataset.verb));   // the station refuses it anyway
    button.disabled = Boolean(reason);
    button.title = reason;
    button.dataset.reason = reason;
  }
}

function wallDogs() {
  return [...state.dogs.values()].sort((a, b) => attention(a) - attention(b) || a.name.localeCompare(b.name))
    .slice(0, state.layout);
}

function renderWall() {
  const wall = $("#wall");
  wall.dataset.layout = String(state.layout);
  const shown = wallDogs();
  const tiles = shown.map(tileFor);
  if (tiles.length !== wall.children.length || tiles.some((tile, i) => wall.children[i] !== tile)) {
    wall.replaceChildren(...tiles);
    watch();
  }
  for (const d of shown) renderTile(d, d.tile);
  $("#empty").hidden = state.dogs.size > 0;
}

// --- video --------------------------------------------------------------------------------
/** The frame element's width in device pixels (0 while it is not laid out: the dog's frame as
 *  it came); the station sends each tile the frame reduced to fill it, never smaller. */
function pixelWidth(el) {
  return Math.min(8192, Math.round((el?.clientWidth || 0) * (window.devicePixelRatio || 1)));
}

/** Every tile gets every frame the dog sends (the station's `fps` cap is for a page on a thin
 *  link), reduced to the tile's width where it is less than half the frame's. */
function watch() {
  const fps = 0;
  const tiles = wallDogs().filter(d => d.cameras.length).map(d => {
    // a hidden wall (the dog view open) keeps the width its tiles had
    d.tileWidth = pixelWidth(d.tile?.querySelector(".frame")) || d.tileWidth || 0;
    return {id: `w-${d.name}`.slice(0, 16), dog: d.name, camera: d.cameras[0], width: d.tileWidth, fps};
  });
  const v = state.view && state.dogs.get(state.view);
  if (v && v.cameras.length) {
    tiles.push({id: "view", dog: v.name, camera: v.cameras[0], width: pixelWidth($("#dogview .frame.big")), fps});
  }
  state.live?.send({type: "watch", tiles});
}

let rewatch = 0;
window.addEventListener("resize", () => {   // tiles change size: ask for frames that fit them
  clearTimeout(rewatch);
  rewatch = setTimeout(watch, 300);
});

function onFrame(header, blob) {
  const d = dog(header.dog);
  d.frame = header;
  d.frameMs = performance.now();
  const url = URL.createObjectURL(blob);
  const img = header.tile === "view" ? $("#dogview .video") : d.tile?.querySelector(".video");
  if (!img) { URL.revokeObjectURL(url); return; }
  const old = img.dataset.url;
  img.dataset.url = url;
  img.src = url;
  if (old) URL.revokeObjectURL(old);
  img.dataset.received = String(header.received);
}

// --- alarms -------------------------------------------------------------------------------
function addAlarm(a) {
  if (state.alarms.some(x => x.dog === a.dog && x.id === a.id)) return;
  state.alarms.unshift(a);
  state.alarms.length = Math.min(state.alarms.length, 500);
  const d = dog(a.dog);
  if (!d.lastAlarm || a.ts >= d.lastAlarm.ts) d.lastAlarm = a;
  if (a.severity === "critical" && !a.acked_by) ring();
}

function unackedCritical() {
  return state.alarms.filter(a => a.severity === "critical" && !a.acked_by);
}

function renderAlarms() {
  const unacked = unackedCritical();
  // Sticky: unacknowledged critical alarms stay on top until someone acknowledges them.
  const ordered = [...unacked, ...state.alarms.filter(a => !unacked.includes(a))].slice(0, 100);
  const list = $("#alarm-list");
  list.replaceChildren(...ordered.map(a => {
    const li = h("li", {class: `sev-${a.severity}${a.acked_by ? " acked" : ""}`,
                        "data-dog": a.dog, "data-event": a.id, "data-severity": a.severity, "data-type": a.type},
      h("span", {class: "when"}, clock(a.ts)), h("span", {class: "sev"}, t(`sev_${a.severity}`)),
      h("span", {class: "dog"}, a.dog), h("span", {class: "what", title: a.message || ""}, alarmText(a)));
    if (a.acked_by) li.append(h("span", {class: "ackedby"}, t("acked", {by: a.acked_by, time: clock(a.acked_at)})));
    else {
      if (can("acknowledge")) li.append(h("button", {class: "ack", type: "button", onclick: () => acknowledge(a)}, t("ack")));
    }
    li.append(...incidents.alarmControls(a));
    return li;
  }));
  $("#no-alarms").hidden = state.alarms.length > 0;
  $("#unacked").textContent = unacked.length ? t("unacked", {n: unacked.length}) : "";
  document.title = `${unacked.length ? `(${unacked.length}) ` : ""}${t("title")}`;
  renderSound(unacked.length);
}

function acknowledge(a) {
  if (state.live?.send({type: "ack", dog: a.dog, event_id: a.id})) return;
  // the live connection is down (reconnecting): the click goes by HTTP rather than being lost;
  // the acknowledgement comes back on the live connection, to every console, once it is up
  post(`/api/dogs/${encodeURIComponent(a.dog)}/events/${encodeURIComponent(a.id)}/ack`).then(json).catch(err =>
    showLoginError(err.code === undefined ? t("live_lost") : t("station_refused", {error: refusalWords(err)})));
}

// The alarm sound: a short tone now and every ALARM_REPEAT_MS while an unacknowledged critical
// alarm stands (sticky until acknowledged), unless this page is muted. Browsers let a page
// play sound only after the person has interacted with it (autoplay policy): before that no
// AudioContext is made (Chromium would warn) and the button says to click the page.
let beeper = null;
let ringing = null;

function soundAllowed() {
  return navigator.userActivation ? navigator.userActivation.hasBeenActive : true;
}

/** A new unacknowledged critical alarm: sound now unless already sounding (a page opening on
 *  ten of them sounds once, then every ALARM_REPEAT_MS). */
function ring() {
  if (ringing !== null) return;
  ringing = setInterval(ringTick, ALARM_REPEAT_MS);
  ringTick();
}

function ringTick() {
  if (!unackedCritical().length) { clearInterval(ringing); ringing = null; renderSound(0); return; }
  if (!state.alarmMuted && soundAllowed()) beep();
  renderSound(unackedCritical().length);
}

function beep() {
  try {
    beeper = beeper || new AudioContext();
    if (beeper.state === "suspended") beeper.resume().catch(() => {});
    const osc = beeper.createOscillator();
    const gain = beeper.createGain();
    gain.gain.value = 0.1;
    osc.frequency.value = 880;
    osc.connect(gain).connect(beeper.destination);
    osc.start();
    osc.stop(beeper.currentTime + 0.3);
    const button = $("#alarm-sound");
    button.dataset.beeps = String(Number(button.dataset.beeps || 0) + 1);
  } catch { /* no audio device: the list and title still show it */ }
}

/** The mute button: what it does, and (data-state) quiet, ringing, muted or blocked. */
function renderSound(unacked) {
  const button = $("#alarm-sound");
  button.textContent = t(state.alarmMuted ? "alarm_sound_off" : "alarm_sound_on");
  button.setAttribute("aria-pressed", String(!state.alarmMuted));
  const blocked = unacked > 0 && !state.alarmMuted && !soundAllowed();
  button.title = blocked ? t("alarm_sound_blocked") : t("alarm_sound_title");
  button.dataset.state = !unacked ? "quiet" : state.alarmMuted ? "muted" : blocked ? "blocked" : "ringing";
}

function toggleSound() {
  state.alarmMuted = !state.alarmMuted;
  localStorage.setItem("console.alarm_muted", state.alarmMuted ? "1" : "0");
  renderSound(unackedCritical().length);
}

// --- commands -----------------------------------------------------------------------------
function command(dogName, verb, args) {
  const id = `c${++state.commandSeq}`;
  state.commands.set(id, {dog: dogName, verb, state: "pending"});
  showCommand({id, dog: dogName, verb, state: "pending"});
  if (state.live?.send({type: "command", id, dog: dogName, verb, args})) return;
  if (verb !== "estop") {
    showCommand({id, dog: dogName, verb, state: "refused", message: t("live_lost")});
    return;
  }
  // The live connection is down: the E-STOP goes by HTTP (the station keeps room for it).
  post(`/api/dogs/${encodeURIComponent(dogName)}/commands/estop?wait=8`, args).then(async reply => {
    const body = await reply.json().catch(() => ({}));
    const r = body.result;
    showCommand({id, dog: dogName, verb, state: reply.status === 202 ? "timeout" : !reply.ok ? "refused"
                 : r.ok ? "done" : "refused", code: r?.code ?? body.code, message: r?.message ?? body.error});
  }, () => showCommand({id, dog: dogName, verb, state: "refused", message: t("live_lost")}));
}

/** A command's state in the page's language: the refusal code's words from the catalogue (a
 *  done command's `ok` says nothing more than "done"); the station's or the dog's detail (its
 *  words, English) stays with the entry as data (`title`, data-detail), as does the code. */
function showCommand(m) {
  const detail = m.code && m.code !== "ok" ? codeLabel(m.code) : m.code ? "" : m.message || "";
  const words = {verb: verbLabel(m.verb), state: t(m.state), detail};
  const text = detail ? t("cmd_state_why", words) : t("cmd_state", words);
  const d = state.dogs.get(m.dog);
  const box = d?.tile?.querySelector(".result");
  if (box) { box.textContent = text; box.dataset.state = m.state; box.dataset.verb = m.verb; box.dataset.code = m.code || ""; box.title = m.message || ""; }
  if (state.view === m.dog) {
    const log = $("#cmdlog");
    let li = log.querySelector(`li[data-id="${CSS.escape(m.id)}"]`);
    if (!li) { li = h("li", {"data-id": m.id}); log.prepend(li); }
    li.textContent = `${clock(nowS())} ${text}`;
    li.dataset.state = m.state;
    li.dataset.verb = m.verb;
    li.dataset.code = m.code || "";
    li.dataset.detail = m.message || "";
    li.title = m.message || "";
  }
}

function estop(name) {
  command(name, "estop", {reason: `e-stop from the station console by ${state.name}`.slice(0, 128)});
}

function release(name) {
  if (!window.confirm(t("confirm_release", {dog: name}))) return;
  command(name, "estop_release", {});
}

// --- dog view -----------------------------------------------------------------------------
let map = null;
let charts = null;
const evidence = new EvidenceBrowser({root: () => $("#evidence"), can, post});
const audio = new DogAudio({post, csrf: () => state.csrf || "", send: m => state.live?.send(m), onState: (dogName, kind, status) => {
  if (dogName !== state.view) return;
  $(`#${kind}`).setAttribute("aria-pressed", String(kind === "listen" ? Boolean(audio.listening) : Boolean(audio.talking)));
  state.audioShown = {kind, status};
  showAudioState();
}});

/** The newest listen-in or talk state in the page's language (again after a switch). */
function showAudioState() {
  if (!state.audioShown) return;
  const {kind, status} = state.audioShown;
  $("#audio-state").textContent = t(`audio_${kind}`, {state: audioWords(status)});
}

/** Listen-in's or talk's state in the page's language (audio.js gives it as data). */
function audioWords({state: now, heard, err}) {
  if (now === "refused") return t("audio_refused", {reason: refusalWords(err)});
  return heard === undefined ? t(`audio_${now}`) : t("audio_heard", {s: heard.toFixed(1)});
}
//: Verbs asked about before they are sent (besides the release, which has its own question).
const CONFIRM = ["resume"];

function openDog(name) {
  closePeople();
  state.view = name;
  $("#overview").hidden = true;
  const view = $("#dogview");
  view.hidden = false;
  view.dataset.dog = name;
  view.querySelector(".name").textContent = name;
  $("#cmdlog").replaceChildren();
  state.audioShown = null;              // another dog's listen-in or talk said nothing of this one
  $("#audio-state").textContent = "";
  map = map || new DogMap($("#map"));
  charts = charts || new Charts($("#charts"));
  map.show(dog(name).track);
  charts.show(dog(name).history);
  evidence.show(name, state.evidenceOn);
  incidents.showDog(name, map);
  renderVerbs();
  renderDogView();
  watch();
}

const people = new PeoplePanel({root: () => $("#people"), can, post});
const incidents = new IncidentDesk({can, post, dog, dogs: () => [...state.dogs.values()],
                                    role: () => state.role, commandsOn: () => state.commandsOn});

function showPeople() {
  if (state.view) closeDog();
  incidents.hidePage();
  $("#overview").hidden = true;
  $("#people").hidden = false;
  people.show().catch(e => showLoginError(String(e)));
}

function closePeople() {
  $("#people").hidden = true;
  $("#overview").hidden = false;
}

function closeDog() {
  audio.stopAll();
  state.view = null;
  incidents.showDog(null);
  $("#dogview").hidden = true;
  $("#overview").hidden = false;
  watch();
}

function renderDogView() {
  const d = state.view && state.dogs.get(state.view);
  if (!d) return;
  const view = $("#dogview");
  renderTile(d, view);
  const age = d.frame ? Math.max(0, nowS() - d.frame.received) : NaN;
  view.querySelector(".age").textContent = Number.isFinite(age) ? t("frame_age", {age: age.toFixed(1)}) : "";
  const panel = $("#payload");
  panel.replaceChildren(...Object.entries(d.telemetry.payload || {}).map(([device, values]) =>
    h("li", {"data-device": device}, deviceLine(device, values))));
  for (const el of view.querySelectorAll("#verbs button[data-verb], #announce-send")) {
    const reason = verbReason(d, el.dataset.verb);
    el.disabled = Boolean(reason);
    el.title = reason;
    el.dataset.reason = reason;
  }
  // a listen or talk window is a command to the dog (the verbs listen and talk)
  view.querySelector(".audio").hidden = !(state.talkOn && can("command") && can("listen"));
  $("#talk").hidden = !can("talk");
}

/** One control per verb from GET /api/verbs (the registry: its args schema); never a table in
 *  the page. A verb the role may not send or the dog does not serve is shown disabled with the
 *  reason (renderDogView), never hidden. */
function renderVerbs() {
  const box = $("#verbs");
  box.replaceChildren(...state.verbs.filter(v => !OWN_PLACE.includes(v.name)).map(v => {
    const inputs = Object.entries(v.args.properties || {}).map(([arg, schema]) => {
      let input;
      if (schema.enum) {
        input = h("select", {}, ...schema.enum.map(o => h("option", {value: o})));
        if (schema.default !== undefined) input.value = schema.default;
      } else if (schema.type === "number" || schema.type === "integer") {
        input = h("input", {type: "number", step: schema.type === "integer" ? "1" : "0.1",
                            min: String(schema.minimum ?? 0), max: String(schema.maximum ?? 1),
                            value: String(schema.default ?? Math.min(Math.max(0, schema.minimum ?? 0), schema.maximum ?? 0))});
      } else if (schema.type === "boolean") {
        input = h("input", {type: "checkbox"});
        input.checked = Boolean(schema.default);
      } else if (schema.type === "array") {   // a route: "x, y; x, y; ..." (empty: not given)
        input = h("input", {type: "text", placeholder: "x, y; x, y", value: ""});
      } else input = h("input", {type: "text", maxlength: String(schema.maxLength ?? 64), value: schema.default ?? ""});
      input.dataset.arg = arg;
      input.dataset.kind = schema.type || "string";
      return h("label", {}, h("span", {class: "arg", "data-arg-label": arg}), " ", input);
    });
    const send = () => {
      const args = {};
      for (const input of box.querySelectorAll(`[data-verb-box="${v.name}"] [data-arg]`)) {
        const value = ["number", "integer"].includes(input.dataset.kind) ? Number(input.value)
          : input.dataset.kind === "boolean" ? input.checked
          : input.dataset.kind === "array" ? points(input.value) : input.value;
        if (value !== "") args[input.dataset.arg] = value;
      }
      if (CONFIRM.includes(v.name) && !window.confirm(t("confirm_verb", {verb: verbLabel(v.name), dog: state.view}))) return;
      command(state.view, v.name, args);
    };
    return h("div", {class: "verb", "data-verb-box": v.name, title: v.summary}, ...inputs,
             h("button", {type: "button", "data-verb": v.name, onclick: send}));
  }));
  labelVerbs();
}

/** The verb controls' texts in the page's language; in place, so a language change keeps what
 *  the operator typed or picked. */
function labelVerbs() {
  const box = $("#verbs");
  for (const button of box.querySelectorAll("button[data-verb]")) button.textContent = verbLabel(button.dataset.verb);
  for (const span of box.querySelectorAll("[data-arg-label]")) span.textContent = argLabel(span.dataset.argLabel);
  for (const select of box.querySelectorAll("select[data-arg]")) {
    for (const option of select.options) option.textContent = valueLabel(select.dataset.arg, option.value);
  }
}

/** "x, y; x, y" -> [[x, y], ...]; "" when empty. Anything else goes as typed: the registry's
 *  check (station and dog) refuses it with the reason, shown as the command's result. */
function points(text) {
  if (!text.trim()) return "";
  const pairs = text.split(";").map(p => p.split(",").map(v => v.trim()).filter(v => v !== ""));
  return pairs.every(p => p.length === 2 && p.every(v => Number.isFinite(Number(v))))
    ? pairs.map(p => p.map(Number)) : text;
}

function announce() {
  const text = $("#announce-text").value.trim();
  if (!text || !state.view) return;
  command(state.view, "announce", {text, language: $("#announce-lang").value});
}

// --- live messages ------------------------------------------------------------------------
function onMessage(m) {
  incidents.onMessage(m);
  switch (m.type) {
    case "hello":
      state.commandsOn = m.commands;
      state.degradedAfterS = m.degraded_after_s;
      state.actions = new Set(m.actions);
      state.verbActions = m.verb_actions;
      state.role = m.role;
      state.evidenceOn = m.evidence;
      state.talkOn = m.talk;
      if (m.battery_levels) state.battery = m.battery_levels;
      showWho();
      renderVerbs();
      for (const f of m.fleet) {
        const d = dog(f.dog);
        d.status = f.status;
        d.cameras = f.cameras;
        if (f.last_seen) d.seenMs = performance.now() - Math.max(0, nowS() - f.last_seen) * 1000;
      }
      state.alarms = [];
      for (const a of [...m.alarms].reverse()) addAlarm(a);
      break;
    case "telemetry": {
      const d = dog(m.dog);
      d.telemetry = m.doc;
      d.seenMs = performance.now();
      if (m.doc.pose) {
        d.track.push([m.doc.pose.x, m.doc.pose.y]);
        if (d.track.length > TRACK_POINTS) d.track.shift();
        if (state.view === d.name) map?.add(m.doc.pose.x, m.doc.pose.y);
      }
      const sample = sampleOf(m.doc);
      d.history.push(sample);
      if (d.history.length > 600) d.history.shift();
      if (state.view === d.name) charts?.add(sample);
      break;
    }
    case "event":
      dog(m.dog).seenMs = performance.now();
      addAlarm({...m.doc, received: m.received, acked_by: null, acked_at: null});
      break;
    case "status": {
      const d = dog(m.dog);
      d.status = m.status;
      d.seenMs = performance.now();
      if (!d.cameras.length) refreshCameras();
      break;
    }
    case "camera": {   // a camera that started after the page opened
      const d = dog(m.dog);
      if (!d.cameras.includes(m.camera)) {
        d.cameras.push(m.camera);
        watch();
      }
      break;
    }
    case "ack":
      for (const a of state.alarms) {
        if (a.dog === m.dog && a.id === m.event_id && !a.acked_by) Object.assign(a, {acked_by: m.acked_by, acked_at: m.acked_at});
      }
      break;
    case "auth":
      state.proven = Boolean(m.ok);
      if (!m.ok) showLoginError(t("login_failed", {error: refusalWords({code: m.code, message: m.error})}));
      break;
    case "session_ended":
      endSession(t("session_ended", {code: m.code}));
      return;
    case "command_state":
      showCommand(m);
      break;
    case "missed":
      refreshAlarms();
      break;
    case "error":
      if (m.code) showLoginError(t("station_refused", {error: refusalWords({code: m.code, message: m.error})}));
      else console.warn("station:", m.error);
      break;
  }
  render();
}

async function refreshCameras() {
  const reply = await fetch("/api/fleet", {cache: "no-store"});
  if (!reply.ok) return;
  for (const f of (await reply.json()).dogs) dog(f.dog).cameras = f.cameras;
  renderWall();
  watch();
}

async function refreshAlarms() {
  const reply = await fetch("/api/alarms?limit=200", {cache: "no-store"});
  if (!reply.ok) return;
  for (const a of (await reply.json()).alarms.reverse()) addAlarm(a);
  render();
}

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderWall();
    renderAlarms();
    renderDogView();
  });
}

// --- login ---------------------------------------------------------------------------------
// Name + password -> the station's session (an HttpOnly, SameSite=Strict cookie no script
// reads) and its CSRF token, kept for this tab only: sent as X-CSRF-Token on every POST and
// once on the live socket (`auth`); another site can make the browser send the cookie, never
// this token.
function showLoginError(text) { $("#login-error").textContent = text; }

function showWho() {
  $("#who").textContent = state.name || "";            // text: never markup
  $("#role").textContent = state.role ? t(`role_${state.role}`, {}, state.role) : "";
  $("#role").dataset.role = state.role || "";
  document.body.dataset.role = state.role || "";
}

export async function post(path, body) {
  return fetch(path, {method: "POST", cache: "no-store", body: JSON.stringify(body ?? {}),
    headers: {"Content-Type": "application/json", "X-CSRF-Token": state.csrf || ""}});
}

async function login(name, password) {
  showLoginError("");
  const reply = await fetch("/api/login", {method: "POST", cache: "no-store",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({name, password})});
  $("#password").value = "";
  if (!reply.ok) {
    const refused = await json(reply).catch(err => err);
    showLoginError(reply.status === 401 ? t("wrong_login")
      : refused.code === "locked_out" ? t("login_locked_out", {s: reply.headers.get("Retry-After") || "?"})
      : t("login_failed", {error: refusalWords(refused)}));
    return;
  }
  await begin(await reply.json());
}

/** A reload keeps the session (its cookie): ask the station who we are and for the CSRF token. */
async function resume() {
  if (!sessionStorage.getItem("console.csrf")) return;   // never logged in from this tab
  const reply = await fetch("/api/session", {cache: "no-store"}).catch(() => null);
  if (reply && reply.ok) {
    const doc = await reply.json();
    if (doc.csrf && !state.name) await begin(doc);
  } else sessionStorage.removeItem("console.csrf");
}

async function begin(doc) {
  Object.assign(state, {name: doc.name, role: doc.role, csrf: doc.csrf});
  sessionStorage.setItem("console.csrf", doc.csrf);
  const verbs = await fetch("/api/verbs", {cache: "no-store"});
  const catalog = verbs.ok ? await verbs.json() : {verbs: [], presets: {}};
  state.verbs = catalog.verbs;
  state.presets = catalog.presets;
  showWho();
  $("#login").hidden = true;
  $("#session").hidden = false;
  $("#main").hidden = false;
  state.live = new Live({
    onMessage, onFrame, onAudio: (header, pcm) => audio.heard(header, pcm),
    onOpen: () => {
      $("#live-lost").hidden = true;
      state.live.send({type: "auth", csrf: state.csrf});
      watch();
    },
    onClose: () => { $("#live-lost").hidden = false; state.proven = false; audio.stopListen(false); render(); },
  });
  state.live.start();
}

/** The session ended (logout, expiry, a disabled account): back to the login form. */
function endSession(text) {
  if (state.view) closeDog();
  closePeople();
  state.live?.stop();
  state.live = null;
  Object.assign(state, {name: null, role: null, csrf: null, actions: new Set(), proven: false, alarms: []});
  clearInterval(ringing);   // logged out: the queue is no one's here any more
  ringing = null;
  renderSound(0);
  sessionStorage.removeItem("console.csrf");
  showWho();
  $("#login").hidden = false;
  $("#session").hidden = true;
  $("#main").hidden = true;
  $("#live-lost").hidden = true;
  showLoginError(text);
}

async function logout() {
  const reply = await post("/api/logout").catch(() => null);
  endSession(reply && reply.ok ? "" : t("logout_failed"));
}

function main() {
  setLanguage(initialLanguage());
  $("#lang").value = language();
  $("#lang").addEventListener("change", event => {
    setLanguage(event.target.value);   // every [data-i18n] element in the document
    // tiles off the wall (a smaller layout) are not in the document
    for (const d of state.dogs.values()) d.tile?.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
    // what is built from data rather than named by a data-i18n attribute
    showWho();
    labelVerbs();
    charts?.relabel();
    showAudioState();
    render();
  });
  $("#layout").value = String(state.layout);
  $("#layout").addEventListener("change", event => {
    state.layout = Number(event.target.value);
    localStorage.setItem("console.layout", String(state.layout));
    render();
  });
  $("#login").addEventListener("submit", event => {
    event.preventDefault();
    login($("#name").value.trim(), $("#password").value).catch(e => showLoginError(String(e)));
  });
  $("#logout").addEventListener("click", logout);
  $("#alarm-sound").addEventListener("click", toggleSound);
  renderSound(0);
  $("#people-button").addEventListener("click", () => ($("#people").hidden ? showPeople() : closePeople()));
  $("#incidents-button").addEventListener("click", () => { if (state.view) closeDog(); closePeople(); incidents.togglePage(); });
  $("#back").addEventListener("click", closeDog);
  $("#estop").addEventListener("click", () => estop(state.view));
  $("#release").addEventListener("click", () => release(state.view));
  $("#announce-send").addEventListener("click", announce);
  $("#listen").addEventListener("click", () => {
    if (audio.listening) audio.stopListen(); else audio.listen(state.view);
  });
  $("#talk").addEventListener("pointerdown", () => audio.talk(state.view));
  for (const end of ["pointerup", "pointerleave", "pointercancel"]) {
    $("#talk").addEventListener(end, () => audio.stopTalk());
  }
  setInterval(render, 1000);  // ages and NO SIGNAL move with the clock; no request is made
  resume().catch(e => showLoginError(String(e)));
}

main();
