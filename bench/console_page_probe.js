// Injected into the benchmarked page before its own scripts (Playwright add_init_script): reads
// the capture time each dog burned into its frames (bench_console.py: two bands of 40 blocks at
// the top of the picture, the Unix time in ms mod 2^40 and its inverse) from every visible
// img.video on each animation frame, and notes when an alarm first shows. Both pages (the
// console and the plain viewer's MJPEG cards) are measured by this same code.
(() => {
  const BITS = 40;
  const WRAP = 2 ** BITS;
  const bench = window.__bench = {paints: [], first: null, alarms: []};   // drained by the bench
  const seen = new WeakMap();          // img -> the stamp last read from it
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", {willReadFrequently: true});

  /** The stamp in `img` (ms mod 2^40), or null when the bands are not there (no frame yet). */
  function stampOf(img) {
    const w = img.naturalWidth;
    if (!w) return null;
    const block = w / BITS;
    if (canvas.width !== w) canvas.width = w;
    canvas.height = 2;
    // one row through the middle of each band, at the picture's own size
    ctx.drawImage(img, 0, Math.floor(block / 2), w, 1, 0, 0, w, 1);
    ctx.drawImage(img, 0, Math.floor(block * 1.5), w, 1, 0, 1, w, 1);
    const data = ctx.getImageData(0, 0, w, 2).data;
    let value = 0;
    for (let i = 0; i < BITS; i++) {
      const x = Math.floor(i * block + block / 2);
      const a = data[x * 4 + 1], b = data[(w + x) * 4 + 1];
      if (Math.abs(a - b) < 96) return null;      // not a clean bit: not a stamped frame
      value = value * 2 + (a > b ? 1 : 0);
    }
    return value;
  }

  function dogOf(img) {
    const el = img.closest("[data-dog]");
    return el ? el.dataset.dog : "?";
  }

  function tick() {
    const now = Date.now();
    for (const img of document.querySelectorAll("img.video")) {
      if (!img.offsetParent) continue;            // hidden: never painted
      let stamp;
      try { stamp = stampOf(img); } catch { continue; }
      if (stamp === null || seen.get(img) === stamp) continue;
      seen.set(img, stamp);
      const age = ((now - stamp) % WRAP + WRAP) % WRAP;   // capture -> this frame, ms
      bench.paints.push([dogOf(img), age]);
      if (bench.first === null) bench.first = now;
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);

  // Alarms: the list is redrawn on every render (inside the console's animation frame, which
  // paints it); an alarm counts once, when it first appears.
  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("alarm-list");
    if (!list) return;
    const shown = new Set();
    new MutationObserver(() => {
      const now = Date.now();
      for (const li of list.querySelectorAll("li[data-event]")) {
        const key = `${li.dataset.dog}/${li.dataset.event}`;
        if (!shown.has(key)) { shown.add(key); bench.alarms.push([key, now]); }
      }
    }).observe(list, {childList: true});
  });
})();
