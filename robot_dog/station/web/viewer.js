// The plain viewer page (/viewer): one card per dog, polled from the JSON API; the station
// console (/) is the live one. A file of its own: the page policy runs no inline script.
"use strict";
const cards = new Map();

// --- login: name + password -> the station's session (an HttpOnly, SameSite=Strict cookie no
// script reads) and its CSRF token, kept for this tab only and sent as X-CSRF-Token on every
// POST: another site can make the browser send the cookie, never this header. The station
// checks the role of every request (docs/security.md, "People and roles"): what a viewer's
// page hides, the station refuses anyway.
const session = {
  get name() { return sessionStorage.getItem("robot-dog.name"); },
  get role() { return sessionStorage.getItem("robot-dog.role"); },
  get csrf() { return sessionStorage.getItem("robot-dog.csrf"); },
  save(doc) {
    sessionStorage.setItem("robot-dog.name", doc.name);
    sessionStorage.setItem("robot-dog.role", doc.role);
    sessionStorage.setItem("robot-dog.csrf", doc.csrf);
  },
  clear() { ["name", "role", "csrf"].forEach(k => sessionStorage.removeItem(`robot-dog.${k}`)); },
};

function csrfHeaders() {
  return {"X-CSRF-Token": session.csrf || ""};
}

function showLoggedIn() {
  const on = Boolean(session.csrf);
  document.body.classList.toggle("authed", on);
  document.getElementById("login").hidden = on;
  document.getElementById("session").hidden = !on;
  document.getElementById("who").textContent = on ? session.name : "";  // text: never markup
  document.getElementById("role").textContent = on ? session.role : "";
}

function loginError(text) {
  document.getElementById("login-error").textContent = text;
}

async function errorText(reply) {
  try { return (await reply.json()).error || `HTTP ${reply.status}`; } catch { return `HTTP ${reply.status}`; }
}

async function login(name, password) {
  if (!name || !password) { loginError("Enter your name and password."); return; }
  let reply;
  try {
    reply = await fetch("/api/login", {method: "POST", cache: "no-store",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({name, password})});
  } catch {
    loginError("Station unreachable: not logged in."); return;
  }
  document.getElementById("password").value = "";
  if (reply.ok) {
    session.save(await reply.json());
    loginError("");
    authed = true;
  } else {
    session.clear();
    loginError(reply.status === 401 ? "Wrong name or password: not logged in."
               : `Login refused: ${await errorText(reply)}`);
  }
  showLoggedIn();
}

// A reload keeps the session (the cookie): ask the station who we are and for the CSRF token.
// A login typed while this question is on its way wins: its answer is never overwritten.
async function resume() {
  const asked = session.csrf;
  try {
    const reply = await fetch("/api/session", {cache: "no-store"});
    if (session.csrf !== asked) return;  // a login happened meanwhile
    if (reply.ok) { session.save(await reply.json()); authed = true; }
    else session.clear();
  } catch { /* station unreachable: try again on the next refresh */ }
  showLoggedIn();
}

document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  login(document.getElementById("name").value.trim(), document.getElementById("password").value);
});
document.getElementById("logout").addEventListener("click", async () => {
  const headers = csrfHeaders();
  session.clear(); authed = false; showLoggedIn();
  try { await fetch("/api/logout", {method: "POST", cache: "no-store", headers}); } catch { /* gone */ }
});

// --- commands: the verbs and arguments the dog's uplink accepts (robot_dog/uplink/commands.py) ---
// The command buttons come from the station's verb registry (GET /api/verbs, robot_dog/verbs.py):
// a preset is a verb with fixed arguments, plus at most one the operator picks from a list.
let VERBS = null;            // the /api/verbs answer
const COMMANDS = {};         // preset name -> {verb, args(el), confirm}
async function loadVerbs() {
  const reply = await fetch("/api/verbs", {cache: "no-store"});
  if (!reply.ok) throw new Error(`GET /api/verbs: ${reply.status}`);
  VERBS = await reply.json();
  for (const [name, p] of Object.entries(VERBS.presets)) {
    COMMANDS[name] = {verb: p.verb, confirm: p.confirm && (dog => p.confirm.replaceAll("{dog}", dog)),
      args: el => {
        const args = {...p.args};
        if (p.pick) args[p.pick.arg] = JSON.parse(el.querySelector(`select[data-pick="${name}"]`).value);
        if (p.verb === "estop") args.reason = `e-stop from the station viewer by ${session.name}`;
        return args;
      }};
  }
}

function commandRows() {
  const rows = document.createElement("div");
  for (const {label, presets} of VERBS.station.rows) {
    const div = document.createElement("div");
    div.className = "row";
    const span = document.createElement("span");
    span.className = "label"; span.textContent = label;
    div.appendChild(span);
    for (const name of presets) {
      const p = VERBS.presets[name];
      if (p.pick) {
        const select = document.createElement("select");
        select.dataset.pick = name;
        select.setAttribute("aria-label", `${label} ${p.pick.arg}`);
        for (const value of p.pick.choices) {
          const option = document.createElement("option");
          option.value = JSON.stringify(value); option.textContent = String(value);
          select.appendChild(option);
        }
        div.appendChild(select);
      }
      const button = document.createElement("button");
      button.dataset.cmd = name; button.textContent = p.label;
      div.appendChild(button);
    }
    rows.appendChild(div);
  }
  return rows;
}
const WAIT_S = 8;  // > the dog's 5 s service deadline, so its own `timeout` answer arrives

function showResult(el, cls, text) {
  const box = el.querySelector(".result");
  box.className = `result ${cls}`;
  box.dataset.code = cls;
  box.textContent = text;
}

async function send(el, name) {
  const {verb, args, confirm: question} = COMMANDS[name];
  const dog = el.dataset.dog;
  if (!session.csrf) { loginError("Log in to send commands."); return; }
  if (question && !window.confirm(question(dog))) {
    showResult(el, "error", `${verb}: cancelled, not sent`);
    return;
  }
  const body = args(el);
  const routine = el.querySelectorAll("button[data-cmd]:not(.estop)");
  if (name !== "estop") routine.forEach(b => { b.disabled = true; });  // e-stop is never blocked
  showResult(el, "pending", `${verb} ${JSON.stringify(body)}: sending…`);
  try {
    const reply = await fetch(`/api/dogs/${dog}/commands/${verb}?wait=${WAIT_S}`, {
      method: "POST", cache: "no-store", body: JSON.stringify(body),
      headers: {...csrfHeaders(), "Content-Type": "application/json"}});
    if (reply.status === 401) {
      session.clear(); authed = false; showLoggedIn();
      loginError("Session ended: log in again; the command was not sent.");
      showResult(el, "error", `${verb}: not sent (not logged in)`);
    } else if (reply.status === 202) {
      const doc = await reply.json();
      showResult(el, "timeout", `${verb}: timeout — no result from ${dog} within ${WAIT_S} s ` +
                 `(nonce ${doc.nonce}; the audit log shows it if one comes)`);
    } else if (reply.ok) {
      const r = (await reply.json()).result;
      const outcome = r.code === "ok" ? "ok" : `refused (${r.code})`;
      showResult(el, r.code === "ok" ? "ok" : "refused", `${verb}: ${outcome}${r.message ? " — " + r.message : ""}`);
    } else {
      showResult(el, "error", `${verb}: not sent — ${await errorText(reply)}`);
    }
  } catch {
    showResult(el, "error", `${verb}: station unreachable, result unknown (see the audit log)`);
  } finally {
    routine.forEach(b => { b.disabled = false; });
    refreshAudit(el).catch(() => {});
  }
}

// --- two-way talk: Listen plays the dog's microphone (s16le 48 kHz PCM polled from the station,
// which decodes the dog's Opus); Talk, while held, posts this page's microphone to the station,
// which encodes it to Opus for the dog. Both open a signed window on the dog (listen / talk verb)
// and refresh it while in use; it lapses on the dog by itself if this page goes away.
const AUDIO_RATE = 48000, WINDOW_S = 15, REFRESH_MS = 10000, POLL_MS = 200;

async function audioWindow(el, verb, seconds) {
  const reply = await fetch(`/api/dogs/${el.dataset.dog}/commands/${verb}?wait=${WAIT_S}`, {
    method: "POST", cache: "no-store", body: JSON.stringify({seconds}),
    headers: {...csrfHeaders(), "Content-Type": "application/json"}});
  const r = reply.ok ? (await reply.json()).result : null;
  if (!r || r.code !== "ok") throw new Error(r ? `${r.code} ${r.message || ""}` : await errorText(reply));
}

function audioState(el, text) { el.querySelector(".audio-state").textContent = text; }

async function startListen(el) {
  const button = el.querySelector(".listen");
  const ctx = new AudioContext({sampleRate: AUDIO_RATE});
  const listen = {ctx, received: 0, cursor: -1, next: 0, timers: []};
  el.listening = listen;
  button.setAttribute("aria-pressed", "true");
  try { await audioWindow(el, "listen", WINDOW_S); }
  catch (err) { audioState(el, `listen refused: ${err.message}`); stopListen(el, false); return; }
  audioState(el, "listening");
  listen.timers.push(setInterval(() => audioWindow(el, "listen", WINDOW_S).catch(
    err => audioState(el, `listen: ${err.message}`)), REFRESH_MS));
  const poll = async () => {
    if (el.listening !== listen) return;
    try {
      const reply = await fetch(`/api/dogs/${el.dataset.dog}/audio/mic?after=${listen.cursor}`,
                                {cache: "no-store"});
      if (reply.ok) {
        listen.cursor = Number(reply.headers.get("X-Audio-Cursor"));
        const pcm = new Int16Array(await reply.arrayBuffer());
        if (pcm.length) {
          const buffer = ctx.createBuffer(1, pcm.length, AUDIO_RATE), f = buffer.getChannelData(0);
          for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
          const node = ctx.createBufferSource();
          node.buffer = buffer; node.connect(ctx.destination);
          listen.next = Math.max(listen.next, ctx.currentTime + 0.1);  // 100 ms of jitter room
          node.start(listen.next);
          listen.next += buffer.duration;
          listen.received += buffer.duration;
          audioState(el, `listening: ${listen.received.toFixed(1)} s received`);
        }
      }
    } catch { /* the next poll retries */ }
    if (el.listening === listen) listen.timers.push(setTimeout(poll, POLL_MS));
  };
  poll();
}

function stopListen(el, close = true) {
  const listen = el.listening;
  el.listening = null;
  el.querySelector(".listen").setAttribute("aria-pressed", "false");
  if (!listen) return;
  listen.timers.forEach(t => { clearInterval(t); clearTimeout(t); });
  listen.ctx.close();
  if (close) audioWindow(el, "listen", 0).then(() => audioState(el, "listen closed"),
                                             err => audioState(el, `listen: ${err.message}`));
}

async function startTalk(el) {
  const button = el.querySelector(".talk");
  if (el.talking) return;
  const talk = {wanted: true, chunks: [], samples: 0, sent: 0, timers: []};
  el.talking = talk;
  button.setAttribute("aria-pressed", "true");
  try {
    await audioWindow(el, "talk", WINDOW_S);
    // The shared capture module (an AudioWorklet; the handheld page uses it too).
    const {startCapture} = await import("/shared/audio_capture.js");
    const capture = await startCapture({sampleRate: AUDIO_RATE, chunkSamples: 2048, onChunk: buffer => {
      talk.chunks.push(new Int16Array(buffer)); talk.samples += buffer.byteLength / 2;
    }});
    talk.capture = capture;
    if (!talk.wanted) { stopTalk(el); return; }
    talk.timers.push(setInterval(() => flushTalk(el, talk), 100));
    talk.timers.push(setInterval(() => audioWindow(el, "talk", WINDOW_S).catch(
      err => audioState(el, `talk: ${err.message}`)), REFRESH_MS));
    audioState(el, "talking: the megaphone plays your voice");
  } catch (err) {
    audioState(el, `talk unavailable: ${err.message}`);
    stopTalk(el);
  }
}

async function flushTalk(el, talk) {
  if (!talk.samples) return;
  const pcm = new Int16Array(talk.samples);
  let at = 0;
  for (const c of talk.chunks) { pcm.set(c, at); at += c.length; }
  talk.chunks = []; talk.samples = 0;
  try {
    const reply = await fetch(`/api/dogs/${el.dataset.dog}/audio/voice`, {
      method: "POST", cache: "no-store", body: pcm.buffer,
      headers: {...csrfHeaders(), "Content-Type": "application/octet-stream"}});
    if (reply.ok) { talk.sent += (await reply.json()).packets; el.dataset.voicePackets = talk.sent; }
    else audioState(el, `talk: ${await errorText(reply)}`);
  } catch { audioState(el, "talk: station unreachable"); }
}

function stopTalk(el) {
  const talk = el.talking;
  el.talking = null;
  el.querySelector(".talk").setAttribute("aria-pressed", "false");
  if (!talk) return;
  talk.wanted = false;
  talk.timers.forEach(t => clearInterval(t));
  if (talk.capture) {
    talk.capture.stop();
    flushTalk(el, talk);
  }
  audioWindow(el, "talk", 0).then(() => audioState(el, "talk closed"),
                                  err => audioState(el, `talk: ${err.message}`));
}

function wireTalk(el) {
  const listen = el.querySelector(".listen"), talk = el.querySelector(".talk");
  listen.addEventListener("click", () => {
    if (!session.csrf) { loginError("Log in to listen."); return; }
    el.listening ? stopListen(el) : startListen(el);
  });
  talk.addEventListener("pointerdown", event => {
    if (!session.csrf) { loginError("Log in to talk."); return; }
    // Captured: a card that reflows under the pointer (new alerts) does not end the talk.
    talk.setPointerCapture(event.pointerId);
    startTalk(el);
  });
  for (const end of ["pointerup", "pointercancel", "lostpointercapture"]) {
    talk.addEventListener(end, () => { if (el.talking) stopTalk(el); });
  }
}

function card(dog) {
  if (cards.has(dog.dog)) return cards.get(dog.dog);
  document.getElementById("empty")?.remove();
  const el = document.createElement("section");
  el.className = "dog";
  el.dataset.dog = dog.dog;
  el.innerHTML = `<h2><span class="name"></span><span class="status"></span></h2>
    <img class="video" alt="live video">
    <ul class="alerts"></ul>
    <p class="login-hint">Log in (top right) to send commands.</p>
    <div class="controls">
      <div class="commands"></div>
      <div class="row"><span class="label">Talk</span>
        <button class="listen" aria-pressed="false" title="Hear the dog's microphone">Listen</button>
        <button class="talk" aria-pressed="false" title="Hold to speak through the dog's megaphone">Talk (hold)</button>
        <span class="audio-state"></span></div>
      <button class="estop" data-cmd="estop" title="Engage the dog's emergency stop (one click)">E-STOP</button>
      <button class="release" data-cmd="estop_release"
        title="Release the station's e-stop hold (asks for confirmation)">Release e-stop</button>
      <div class="result" role="status"></div>
    </div>
    <table class="audit"><caption>Commands (audit log)</caption><tbody></tbody></table>
    <table class="telemetry"></table>`;
  el.querySelector(".name").textContent = dog.dog;
  el.querySelector(".commands").replaceWith(commandRows());
  for (const button of el.querySelectorAll("button[data-cmd]")) {
    button.addEventListener("click", () => send(el, button.dataset.cmd));
  }
  wireTalk(el);
  document.getElementById("dogs").appendChild(el);
  cards.set(dog.dog, el);
  return el;
}

// Nested telemetry becomes dotted rows ("battery.voltage_v"), numbers rounded for reading.
function rows(table, prefix, value) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) rows(table, prefix ? `${prefix}.${k}` : k, v);
  } else {
    row(table, prefix, typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value));
  }
}

function row(table, key, value) {
  const tr = document.createElement("tr");
  const k = document.createElement("td"); k.textContent = key;
  const v = document.createElement("td"); v.textContent = value;
  tr.append(k, v); table.appendChild(tr);
}

function clock(ts) {
  return typeof ts === "number" ? new Date(ts * 1000).toLocaleTimeString() : "?";
}

// Who sent what when, and what the dog answered: newest first.
async function refreshAudit(el) {
  const reply = await fetch(`/api/dogs/${el.dataset.dog}/commands?limit=5`, {cache: "no-store"});
  if (!reply.ok) return;
  const body = el.querySelector(".audit tbody");
  body.replaceChildren();
  for (const c of (await reply.json()).commands) {
    const what = `${c.issuer || "(not from this station)"}: ${c.verb || "?"} ${c.args ? JSON.stringify(c.args) : ""}`;
    const outcome = c.code ? `${c.code}${c.message ? " — " + c.message : ""}` : "no result yet";
    const tr = document.createElement("tr");
    for (const [text, cls] of [[clock(c.issued_at ?? c.result_at), ""], [what, ""],
                               [outcome, c.code ? (c.ok ? "ok" : "refused") : "pending"]]) {
      const td = document.createElement("td"); td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

let authed = false;  // the station holds a session of ours (cookie): reads work

async function refresh() {
  if (!authed) {
    document.getElementById("summary").textContent = "log in to see the fleet";
    return;
  }
  try {
    if (!VERBS) await loadVerbs();
    const reply = await fetch("/api/fleet", {cache: "no-store"});
    if (reply.status === 401) {  // the station restarted or the session ended: log in again
      authed = false;
      session.clear(); showLoggedIn();
      return;
    }
    const fleet = await reply.json();
    // The summary first: the per-dog reads below take a round trip each, and a page read
    // between them must never show "log in" beside cards that are already filled.
    const online = fleet.dogs.filter(dog => dog.status === "online").length;
    document.getElementById("summary").textContent = `${fleet.dogs.length} dogs, ${online} online`;
    for (const dog of fleet.dogs) {
      const el = card(dog);
      const badge = el.querySelector(".status");  // health: "degraded" = online, telemetry stopped
      const shown = dog.health || dog.status;
      badge.textContent = shown; badge.className = "status " + shown;
      const img = el.querySelector(".video");
      // Refused (503: the station's stream cap) or ended: the next round asks again.
      img.onerror = () => img.removeAttribute("src");
      if (dog.cameras.length && !img.src) {
        img.src = `/video/${dog.dog}/${dog.cameras[0]}.mjpeg`;
        img.dataset.camera = dog.cameras[0];
      }
      const ev = await fetch(`/api/dogs/${dog.dog}/events?limit=5`, {cache: "no-store"});
      if (ev.ok) {
        const list = el.querySelector(".alerts");
        list.replaceChildren();
        for (const e of (await ev.json()).events) {
          const li = document.createElement("li");
          li.className = e.severity;
          li.textContent = `${clock(e.ts)}  ${e.type}: ${e.message || ""}`;
          list.appendChild(li);
        }
      }
      await refreshAudit(el);
      const r = await fetch(`/api/dogs/${dog.dog}/telemetry`, {cache: "no-store"});
      const table = el.querySelector(".telemetry");
      table.replaceChildren();
      row(table, "frames received", dog.frames);
      row(table, "telemetry rows", dog.telemetry);
      if (r.ok) {
        const t = await r.json();
        row(table, "time", clock(t.ts));
        for (const [k, v] of Object.entries(t)) {
          if (["v", "dog", "ts", "age_s"].includes(k)) continue;
          rows(table, k, v);
        }
      }
    }
  } catch (err) {
    document.getElementById("summary").textContent = "station unreachable";
  }
}

async function poll() {
  await refresh();
  setTimeout(poll, 1000);  // after the previous round: slow answers never pile up
}

showLoggedIn();
resume().then(poll);  // a session kept by the cookie (a reload) goes on without a new login
