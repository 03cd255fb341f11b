// The page's one live connection to the station (WS /api/live): JSON messages to `onMessage`,
// video (binary: 4-byte header length, JSON header, JPEG) to `onFrame`, the microphone of a dog
// listened to (the same framing, header kind "audio", s16le PCM) to `onAudio`. Reconnects with a
// growing pause; the page re-sends what it watches and its operator proof on each `open`.

export class Live {
  constructor({onMessage, onFrame, onAudio, onOpen, onClose}) {
    Object.assign(this, {onMessage, onFrame, onAudio, onOpen, onClose});
    this.ws = null;
    this.retryMs = 500;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`;
    const ws = this.ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { this.retryMs = 500; this.onOpen(); };
    ws.onmessage = event => {
      if (typeof event.data === "string") {
        this.onMessage(JSON.parse(event.data));
        return;
      }
      const view = new DataView(event.data);
      const size = view.getUint32(0);
      const header = JSON.parse(new TextDecoder().decode(new Uint8Array(event.data, 4, size)));
      if (header.kind === "audio") {
        this.onAudio?.(header, new Int16Array(event.data.slice(4 + size)));
        return;
      }
      this.onFrame(header, new Blob([new Uint8Array(event.data, 4 + size)], {type: "image/jpeg"}));
    };
    ws.onclose = () => {
      if (this.stopped) return;   // closed on purpose (a logout): nothing lost, no retry
      this.onClose();
      setTimeout(() => this.start(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 8000);
    };
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }
}
