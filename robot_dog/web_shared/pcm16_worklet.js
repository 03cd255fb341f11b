// AudioWorklet processor (runs on the audio thread): the microphone's float samples as signed
// 16-bit chunks of `chunkSamples`, posted to the page, which sends them on (handheld: its
// WebSocket; station console: its talk channel). Loaded by audio_capture.js.
class Pcm16Chunker extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.chunkSamples;
    this.chunk = new Int16Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const v = Math.max(-1, Math.min(1, channel[i]));
      this.chunk[this.filled++] = v < 0 ? v * 32768 : v * 32767;
      if (this.filled === this.size) {
        this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
        this.chunk = new Int16Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm16-chunker", Pcm16Chunker);
