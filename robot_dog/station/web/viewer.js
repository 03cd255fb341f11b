"use strict";
const cards = new Map();

// --- login: operator name + the station's operator token, kept for this tab only -------------
// Sent as headers on each command (never a cookie, so another site cannot make the browser send
// it). A successful login also sets an HttpOnly, SameSite=Strict session cookie: every read
// (fleet, telemetry, events, audit, video) needs a login too.
const OPERATOR_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;  // = fleet.USER_NAME, the signed `issuer`
const session = {
  get operator() { return sessionStorage.getItem("robot-dog.operator"); },
  get token() { return sessionStorage.getItem("robot-dog.token"); },
  save(operator, token) {
    sessionStorage.setItem("robot-dog.operator", operator);
    sessionStorage.setItem("robot-dog.token", token);
  },
  clear() { sessionStorage.removeItem("robot-dog.operator"); sessionStorage.removeItem("robot-dog.token"); },
};

function authHeaders(operator, token) {
  return {"Authorization": `Bearer ${token}`, "X-Operator": operator};
}

function showLoggedIn() {
  const on = Boolean(session.token);
  document.body.classList.toggle("authed", on);
  document.getElementById("login").hidden = on;
  document.getElementById("session").hidden = !on;
  document.getElementById("who").textContent = on ? session.operator : "";
}

function loginError(text) {
  document.getElementById("login-error").textContent = text;
}

async function errorText(reply) {
  try { return (await reply.json()).error || `HTTP ${reply.status}`; } catch { return `HTTP ${reply.status}`; }
}

// The station checks name and token (GET /api/operator) before anything can be sent.
async function login(operator, token) {
  if (!OPERATOR_NAME.test(operator)) {
    loginError("Operator name: 1-64 letters, digits or _ . @ - (it is signed into every command).");
    return;
  }
  if (!token) { loginError("Enter the operator token."); return; }
  let reply;
  try {
    reply = await fetch("/api/operator", {headers: authHeaders(operator, token), cache: "no-store"});
  } catch {
    loginError("Station unreachable: not logged in."); return;
  }
  if (reply.ok) {
    session.save(operator, token);
    loginError("");
    document.getElementById("token").value = "";
    authed = true;
  } else {
    session.clear();
    loginError(reply.status === 401 ? "Wrong operator token: not logged in, no command was sent."
               : `Login refused: ${await errorText(reply)}`);
  }
  showLoggedIn();
}

document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  login(document.getElementById("operator").value.trim(), document.getElementById("token").value.trim());
});
document.getElementById("logout").addEventListener("click", async () => {
  session.clear(); authed = false; showLoggedIn();
  try { await fetch("/api/logout", {method: "POST", cache: "no-store"}); } catch { /* gone */ }
});

// --- commands: the verbs and arguments the dog's uplink accepts (robot_dog/uplink/commands.py) ---
const COMMANDS = {
  light_on:    {verb: "police_light", args: () => ({pattern: "flash"})},
  light_off:   {verb: "police_light", args: () => ({pattern: "off"})},
  searchlight: {verb: "searchlight", args: el => ({level: Number(el.querySelector(".level").value)})},
  siren_on:    {verb: "siren", args: el => ({tone: el.querySelector(".tone").value})},
  siren_off:   {verb: "siren", args: () => ({tone: "off"})},
  estop:       {verb: "estop", args: () => ({reason: `e-stop from the station viewer by ${session.operator}`})},
  estop_release: {verb: "estop_release", args: () => ({}),
                  confirm: dog => `Release the station's e-stop on ${dog}? The dog may move again ` +
                                  "when a driver commands it. Holds of other endpoints stay."},
};
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
  if (!session.token) { loginError("Log in to send commands."); return; }
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
      headers: {...authHeaders(session.operator, session.token), "Content-Type": "application/json"}});
    if (reply.status === 401) {
      session.clear(); showLoggedIn();
      loginError("Wrong operator token: logged out, the command was not sent.");
      showResult(el, "error", `${verb}: not sent (wrong operator token)`);
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
    headers: {...authHeaders(session.operator, session.token), "Content-Type": "application/json"}});
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
    const stream = await navigator.mediaDevices.getUserMedia(
      {audio: {channelCount: 1, echoCancellation: true, noiseSuppression: true}});
    const ctx = new AudioContext({sampleRate: AUDIO_RATE});
    const source = ctx.createMediaStreamSource(stream);
    const tap = ctx.createScriptProcessor(2048, 1, 1);  // no worklet: the page policy allows no module
    Object.assign(talk, {stream, ctx, source, tap});
    if (!talk.wanted) { stopTalk(el); return; }
    tap.onaudioprocess = event => {
      const f = event.inputBuffer.getChannelData(0), pcm = new Int16Array(f.length);
      for (let i = 0; i < f.length; i++) pcm[i] = Math.max(-1, Math.min(1, f[i])) * 32767;
      talk.chunks.push(pcm); talk.samples += pcm.length;
    };
    source.connect(tap); tap.connect(ctx.destination);
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
      headers: {...authHeaders(session.operator, session.token), "Content-Type": "application/octet-stream"}});
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
  if (talk.tap) {
    talk.tap.disconnect(); talk.source.disconnect();
    talk.stream.getTracks().forEach(t => t.stop()); talk.ctx.close();
    flushTalk(el, talk);
  }
  audioWindow(el, "talk", 0).then(() => audioState(el, "talk closed"),
                                  err => audioState(el, `talk: ${err.message}`));
}

function wireTalk(el) {
  const listen = el.querySelector(".listen"), talk = el.querySelector(".talk");
  listen.addEventListener("click", () => {
    if (!session.token) { loginError("Log in to listen."); return; }
    el.listening ? stopListen(el) : startListen(el);
  });
  talk.addEventListener("pointerdown", event => {
    if (!session.token) { loginError("Log in to talk."); return; }
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
      <div class="row"><span class="label">Police light</span>
        <button data-cmd="light_on">On</button><button data-cmd="light_off">Off</button></div>
      <div class="row"><span class="label">Searchlight</span>
        <select class="level" aria-label="searchlight level">
          <option value="0">off</option><option value="0.25">25 %</option><option value="0.5">50 %</option>
          <option value="0.75">75 %</option><option value="1">100 %</option></select>
        <button data-cmd="searchlight">Set</button></div>
      <div class="row"><span class="label">Siren</span>
        <select class="tone" aria-label="siren tone">
          <option>wail</option><option>yelp</option><option>hilo</option></select>
        <button data-cmd="siren_on">On</button><button data-cmd="siren_off">Off</button></div>
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
    const reply = await fetch("/api/fleet", {cache: "no-store"});
    if (reply.status === 401) {  // the station restarted or the session ended: log in again
      authed = false;
      if (session.token) await login(session.operator, session.token);
      return;
    }
    const fleet = await reply.json();
    let online = 0;
    for (const dog of fleet.dogs) {
      const el = card(dog);
      if (dog.status === "online") online++;
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
    document.getElementById("summary").textContent = `${fleet.dogs.length} dogs, ${online} online`;
  } catch (err) {
    document.getElementById("summary").textContent = "station unreachable";
  }
}

async function poll() {
  await refresh();
  setTimeout(poll, 1000);  // after the previous round: slow answers never pile up
}

showLoggedIn();
if (session.token) login(session.operator, session.token);  // re-check a token kept in this tab
poll();
