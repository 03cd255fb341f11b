// Listen-in and push-to-talk of the dog view. Listen plays the dog's microphone (s16le 48 kHz
// PCM the station decodes from the dog's Opus, pushed on the page's live socket); Talk, while held, sends
// this page's microphone (the shared AudioWorklet capture module, the handheld page's too) to the
// station, which encodes it to Opus for the dog. Each opens a signed window on the dog (the
// `listen` / `talk` verb, under this account: the station refuses another account's voice in
// it) and refreshes it while in use; the window lapses on the dog by itself if this page goes.
import {startCapture} from "/shared/audio_capture.js";
import {json} from "./answers.js";

const RATE = 48000;
const WINDOW_S = 15;
const REFRESH_MS = 10000;
const CHUNK = 4800;          // 100 ms of voice per request (the station takes up to 1 s)
const WAIT_S = 8;

export class DogAudio {
  /** `post(path, body)`: a JSON POST with the session's CSRF token, `csrf()`: that token;
   *  `send(message)`: a message on the live socket; `onState(dog, kind, status)`: what the
   *  controls show, as data the page words from its catalogue: {state: "on" | "off" |
   *  "refused", heard (s of the dog's sound played), err ({code, message}: the refusal)}. */
  constructor({post, csrf, send, onState}) {
    Object.assign(this, {post, csrf, send, onState});
    this.listening = null;
    this.talking = null;
  }

  async window(dog, verb, seconds) {
    const reply = await this.post(`/api/dogs/${encodeURIComponent(dog)}/commands/${verb}?wait=${WAIT_S}`, {seconds});
    const r = (await json(reply)).result;        // the station's refusal thrown as it is
    // the dog's refusal, or no answer in time (202: no result)
    if (!r || r.code !== "ok") throw Object.assign(new Error(r?.message || `HTTP ${reply.status}`), {code: r?.code || ""});
  }

  async listen(dog) {
    if (this.listening) return;
    const ctx = new AudioContext({sampleRate: RATE});
    const state = this.listening = {dog, ctx, next: 0, received: 0, timers: []};
    try { await this.window(dog, "listen", WINDOW_S); }
    catch (err) {   // stopped first: its "off" would hide why
      this.stopListen(false);
      this.onState(dog, "listen", {state: "refused", err});
      return;
    }
    if (this.listening !== state) return;
    this.send({type: "listen", dog});
    this.onState(dog, "listen", {state: "on"});
    state.timers.push(setInterval(() => this.window(dog, "listen", WINDOW_S).catch(
      err => this.onState(dog, "listen", {state: "refused", err})), REFRESH_MS));
  }

  /** A chunk of the microphone from the live socket. */
  heard(header, pcm) {
    const state = this.listening;
    if (state && header.dog === state.dog && pcm.length) this.play(state, pcm);
  }

  play(state, pcm) {
    const buffer = state.ctx.createBuffer(1, pcm.length, RATE);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    const node = state.ctx.createBufferSource();
    node.buffer = buffer;
    node.connect(state.ctx.destination);
    state.next = Math.max(state.next, state.ctx.currentTime + 0.1);  // 100 ms of jitter room
    node.start(state.next);
    state.next += buffer.duration;
    state.received += buffer.duration;
    this.onState(state.dog, "listen", {state: "on", heard: state.received});
  }

  stopListen(close = true) {
    const state = this.listening;
    this.listening = null;
    if (!state) return;
    state.timers.forEach(timer => clearInterval(timer));
    this.send({type: "listen", dog: null});
    state.ctx.close();
    this.onState(state.dog, "listen", {state: "off"});
    if (close) this.window(state.dog, "listen", 0).catch(() => {});
  }

  async talk(dog) {
    if (this.talking) return;
    const state = this.talking = {dog, wanted: true, sent: 0, timers: [], capture: null, inflight: new Set()};
    try {
      await this.window(dog, "talk", WINDOW_S);
      state.capture = await startCapture({sampleRate: RATE, chunkSamples: CHUNK,
                                          onChunk: buffer => this.sendVoice(state, buffer)});
      if (!state.wanted) { this.stopTalk(); return; }
      state.timers.push(setInterval(() => this.window(dog, "talk", WINDOW_S).catch(
        err => this.onState(dog, "talk", {state: "refused", err})), REFRESH_MS));
      this.onState(dog, "talk", {state: "on"});
    } catch (err) {
      this.stopTalk();
      this.onState(dog, "talk", {state: "refused", err});
    }
  }

  /** One chunk of this page's voice to the station (a method of its own: `send` is the live
   *  socket's, given to the constructor, and an own property hides a method of the same name). */
  sendVoice(state, buffer) {
    const sending = this.postVoice(state, buffer);
    state.inflight.add(sending);
    sending.finally(() => state.inflight.delete(sending));
  }

  async postVoice(state, buffer) {
    try {
      const reply = await fetch(`/api/dogs/${encodeURIComponent(state.dog)}/audio/voice`, {
        method: "POST", cache: "no-store", body: buffer,
        headers: {"Content-Type": "application/octet-stream", "X-CSRF-Token": this.csrf()}});
      state.sent += (await json(reply)).packets;
    } catch (err) {   // the station's refusal (a code), or no station at all (fetch's TypeError)
      this.onState(state.dog, "talk", {state: "refused",
                                       err: err.code === undefined ? {code: "station_unreachable"} : err});
    }
  }

  stopTalk() {
    const state = this.talking;
    if (!state) return;
    this.talking = null;
    state.wanted = false;
    state.timers.forEach(timer => clearInterval(timer));
    state.capture?.stop();
    this.onState(state.dog, "talk", {state: "off"});
    // the window closes after the last words are taken: closed first, a chunk still on its way
    // is refused (and the end of what was said lost)
    Promise.allSettled([...state.inflight]).then(() => this.window(state.dog, "talk", 0)).catch(() => {});
  }

  stopAll() { this.stopListen(); this.stopTalk(); }
}
