// Microphone capture shared by the handheld page and the station console: mono signed 16-bit
// little-endian PCM at `sampleRate` in chunks of `chunkSamples`, from an AudioWorklet (the
// ScriptProcessorNode it replaces is deprecated and runs on the page's main thread).
//
//   const capture = await startCapture({sampleRate: 16000, chunkSamples: 2048,
//                                       onChunk: buffer => socket.send(buffer)});
//   capture.stop();
//
// Served from the same origin as the page (CSP script-src 'self'): /shared/audio_capture.js.

export async function startCapture({sampleRate = 16000, chunkSamples = 2048, onChunk}) {
  const stream = await navigator.mediaDevices.getUserMedia(
    {audio: {channelCount: 1, echoCancellation: true, noiseSuppression: true}});
  let ctx = null;
  try {
    ctx = new AudioContext({sampleRate});
    await ctx.audioWorklet.addModule(new URL("./pcm16_worklet.js", import.meta.url));
    const source = ctx.createMediaStreamSource(stream);
    const chunker = new AudioWorkletNode(ctx, "pcm16-chunker", {
      numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1,
      processorOptions: {chunkSamples}});
    chunker.port.onmessage = event => onChunk(event.data);
    source.connect(chunker);
    await ctx.resume();
    return {
      stop() {
        chunker.port.onmessage = null;
        source.disconnect();
        stream.getTracks().forEach(track => track.stop());
        ctx.close();
      },
    };
  } catch (err) {
    stream.getTracks().forEach(track => track.stop());
    if (ctx) ctx.close();
    throw err;
  }
}
