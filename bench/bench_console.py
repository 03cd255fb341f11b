"""Station console in Chromium: login -> first frame painted, capture -> painted (the console
against the plain viewer at /viewer), event -> alarm shown, station CPU per viewer, JS heap.

Real parts: the secured Mosquitto that `robot-dog fleet` configures (8 dogs), `robot-dog
station` as its own process (so its CPU is its own) with an operator account, Debian's headless
Chromium driven by Playwright. The dogs are the uplink's own MQTT session
(robot_dog/uplink/session.py: TLS with each dog's credentials, the outbox for telemetry and
events, QoS 0 video with its expiry), 8 of them in this process without ROS: 8 full dog stacks
(about ten processes each) do not fit 2 cores beside the browser, and the station cannot tell
the difference. dog1 sends 640x480 at 15 fps (full rate), dog2-dog8 320x240 at 5 fps
(thumbnails); telemetry at 2 Hz each; a warning event every second, from each dog in turn.

Each frame carries its capture time (Unix ms mod 2^40) burned into its top rows as two bands of
40 black/white blocks, the second the inverse of the first; console_page_probe.js, injected
into the page, reads every visible `img.video` on each animation frame, so both pages are
measured by the same code: capture -> painted = the animation frame in which a new stamp is
first readable from the image (the frame that paints it), on the machine's one clock.

Phases: 0 viewers (the station's own CPU), login -> first frame (LOGIN_TRIALS fresh pages), one
console (9 tiles, all 8 dogs) for MINUTES: frame latencies, alarms, station CPU and the heap
(garbage collected, then Runtime.getHeapUsage, every HEAP_EVERY_S); then 8 consoles (station
CPU); then one plain viewer for VIEWER_S.

    ./dev.sh bench console                                      # 10 minutes of the console
    ROBOT_DOG_BENCH_CONSOLE_MINUTES=1 ./dev.sh bench console     # shorter
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.stats import NoSamples, percentile
from robot_dog.bodycam.scene import Overlay, TestScene, encode_jpeg
from robot_dog.uplink import telemetry as tm
from robot_dog.uplink.events import EventFactory
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from tests.fixtures.browser import CHROMIUM_ARGS
from tests.fixtures.secure_broker import SecureBroker, start_secure_broker
from tests.support import free_port

REPO = Path(__file__).resolve().parents[1]
PROBE = (Path(__file__).parent / "console_page_probe.js").read_text()
MINUTES = float(os.environ.get("ROBOT_DOG_BENCH_CONSOLE_MINUTES", "10"))
DOGS = tuple(f"dog{i}" for i in range(1, 9))
FULL = "dog1"                     # the one dog at full rate and size
FULL_FPS, THUMB_EVERY = 15.0, 3   # the others send every third tick: 5 fps
TELEMETRY_HZ = 2.0
EVENT_EVERY_S = 1.0
BITS = 40                         # the stamp: ms mod 2^40 (34 years)
CPU_WINDOW_S = 20.0
LOGIN_TRIALS = 3
VIEWER_S = 30.0
HEAP_EVERY_S = 10.0
WARM_UP_S = 10.0
USER, PASSWORD = "bench", "correct horse battery staple"
TIMEOUT_MS = 60_000


def stamped(image: np.ndarray, ms: float) -> np.ndarray:
    """`image` with `ms` (mod 2^40) in its top rows: 40 blocks of width/40 px, a band of the
    bits and below it a band of their inverse (the reader checks every bit against it)."""
    block = image.shape[1] // BITS
    out = image.copy()
    value = int(ms) % (1 << BITS)
    for i in range(BITS):
        bit = (value >> (BITS - 1 - i)) & 1
        x = slice(i * block, (i + 1) * block)
        out[0:block, x] = 255 if bit else 0
        out[block:2 * block, x] = 0 if bit else 255
    return out


class Dogs:
    """Eight dogs on the uplink's session: video, telemetry and events on a 15 Hz tick."""

    def __init__(self, broker: SecureBroker, work: Path) -> None:
        paths = broker.fleet.paths
        self.sessions = {dog: UplinkSession(UplinkConfig(
            dog, broker.host, broker.port, password=broker.password(dog),
            ca_file=paths.dog_ca_cert(dog), state_dir=work / "uplink" / dog)).start() for dog in DOGS}
        overlay = Overlay("BENCH-0001", "bench")
        now = time.time()
        self.images = {dog: TestScene(*((640, 480) if dog == FULL else (320, 240))).render(now, overlay)
                       for dog in DOGS}
        self.telemetry = {dog: tm.TelemetryState(dog, seq=tm.boot_seq(now)) for dog in DOGS}
        self.factories = {dog: EventFactory(dog) for dog in DOGS}
        self.events: dict[str, float] = {}   # "dog/id" -> the event's ts (published right after)
        self.running = True
        self.thread = threading.Thread(target=self._run, name="bench-dogs", daemon=True)

    def start(self) -> Dogs:
        deadline = time.monotonic() + 60
        while not all(s.connected for s in self.sessions.values()):
            if time.monotonic() > deadline:
                raise NoSamples("the 8 dogs could not log in to the secured broker in 60 s")
            time.sleep(0.1)
        self.thread.start()
        return self

    def _run(self) -> None:
        tick, n_event = 0, 0
        t_next = time.monotonic()
        next_telemetry = next_event = time.time()
        while self.running:
            now = time.time()
            for dog in DOGS:
                if dog == FULL or tick % THUMB_EVERY == 0:
                    capture = time.time()
                    self.sessions[dog].send_frame("bodycam", encode_jpeg(
                        stamped(self.images[dog], capture * 1000), 80))
            if now >= next_telemetry:
                next_telemetry += 1.0 / TELEMETRY_HZ
                for n, dog in enumerate(DOGS):
                    state = self.telemetry[dog]
                    state.update("battery", tm.battery_section(0.8 - 0.05 * n, 25.0, 2.0, 30.0, False), now)
                    state.update("pose", {"frame": "odom", "x": 0.01 * tick, "y": float(n), "yaw": 0.0}, now)
                    state.update("safety", tm.safety_section(False, ""), now)
                    self.sessions[dog].put_telemetry(state.snapshot(now))
            if now >= next_event:
                next_event += EVENT_EVERY_S
                dog = DOGS[n_event % len(DOGS)]
                n_event += 1
                doc = self.factories[dog].make(time.time(), "sound", "warning", "bench event")
                self.events[f"{dog}/{doc['id']}"] = doc["ts"]
                self.sessions[dog].put_event(doc)
            tick += 1
            t_next += 1.0 / FULL_FPS
            time.sleep(max(0.0, t_next - time.monotonic()))

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=10)
        for session in self.sessions.values():
            session.stop()


def start_station(broker: SecureBroker, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    db = work / "station.db"
    subprocess.run([sys.executable, "-m", "robot_dog.cli", "station", "user", "add", USER,
                    "--role", "operator", "--password-stdin", "--db", str(db)],
                   input=f"{PASSWORD}\n".encode(), check=True, cwd=REPO, capture_output=True)
    port = free_port()
    with open(work / "station.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "robot_dog.cli", "station", "--fleet", str(broker.fleet.root),
             "--broker-port", str(broker.port), "--db", str(db), "--http-port", str(port),
             "--evidence-dir", str(work / "evidence")],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, cwd=REPO)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise NoSamples(f"the station did not serve its page; {work / 'station.log'}:\n"
                                + (work / "station.log").read_text(errors="replace")[-2000:]) from None
            time.sleep(0.3)


class StationCpu:
    """CPU time of the station process, as % of one core over a window."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self._mark()

    def _mark(self) -> None:
        times = self.process.cpu_times()
        self._cpu, self._wall = times.user + times.system, time.monotonic()

    def since_mark(self) -> float:
        times = self.process.cpu_times()
        pct = 100.0 * (times.user + times.system - self._cpu) / (time.monotonic() - self._wall)
        self._mark()
        return pct


class Pages:
    def __init__(self, browser: Any, base: str) -> None:
        self.browser, self.base = browser, base

    def open(self, path: str = "/", probe: bool = True) -> tuple[Any, Any]:
        context = self.browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-GB")
        if probe:
            context.add_init_script(script=PROBE)
        page = context.new_page()
        page.goto(self.base + path)
        if path == "/":
            page.select_option("#layout", "9")     # the whole fleet on the wall
        return context, page

    @staticmethod
    def log_in(page: Any) -> float:
        """Logs in; the page's clock (Unix ms) at the click."""
        page.fill("#name", USER)
        page.fill("#password", PASSWORD)
        clicked: float = page.evaluate("Date.now()")
        page.click("#login-button")
        return clicked


def drain(page: Any) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = page.evaluate(
        "() => { const b = window.__bench; return {paints: b.paints.splice(0), alarms: b.alarms.splice(0)}; }")
    return result


def heap_mb(cdp: Any) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    return float(cdp.send("Runtime.getHeapUsage")["usedSize"]) / 1e6


def paint_figures(prefix: str, paints: list[list[Any]], seconds: float, what: str) -> dict[str, object]:
    """Latency percentiles of the full-rate dog and of the thumbnails, and the frame rate each
    showed (frames painted per dog per second: newest wins, so a busy page shows fewer)."""
    full = [age for dog, age in paints if dog == FULL]
    thumbs = [age for dog, age in paints if dog != FULL]
    out: dict[str, object] = {f"{prefix}_dogs_painted": f"{len({d for d, _ in paints})}/{len(DOGS)}"}
    for name, values, dogs in (("full", full, 1), ("thumb", thumbs, len(DOGS) - 1)):
        out[f"{prefix}_{name}_fps"] = round(len(values) / seconds / dogs, 1)
        if values:
            out[f"{prefix}_{name}_p50_ms"] = percentile(values, 0.5)
            out[f"{prefix}_{name}_p95_ms"] = percentile(values, 0.95)
    all_ages = full + thumbs
    out[f"{prefix}_all_p95_ms"] = percentile(all_ages, 0.95, what)
    return out


def run() -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    out: dict[str, object] = {"minutes": MINUTES, "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        work = Path(tmp)
        broker = start_secure_broker(work, dogs=DOGS, users=("station",))
        station = dogs = None
        try:
            station, port = start_station(broker, work)
            dogs = Dogs(broker, work).start()
            cpu = StationCpu(station.pid)
            time.sleep(WARM_UP_S)
            cpu.since_mark()
            time.sleep(CPU_WINDOW_S)
            idle_pct = cpu.since_mark()
            out["station_cpu_0_viewers_pct"] = round(idle_pct, 1)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS)
                pages = Pages(browser, f"http://127.0.0.1:{port}")
                out.update(_login_trials(pages))
                out.update(_one_console(pages, cpu, dogs, idle_pct))
                out.update(_eight_consoles(pages, cpu, idle_pct))
                out.update(_plain_viewer(pages))
                browser.close()
        finally:
            if dogs is not None:
                dogs.stop()
            if station is not None:
                station.terminate()
                try:
                    station.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    station.kill()
            broker.stop()
    out["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return out


def _login_trials(pages: Pages) -> dict[str, object]:
    """Login -> the first stamped frame readable in any tile, in a fresh page each time."""
    took: list[float] = []
    for _ in range(LOGIN_TRIALS):
        context, page = pages.open()
        clicked = pages.log_in(page)
        try:
            page.wait_for_function("() => window.__bench.first !== null", timeout=TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001  (Playwright's timeout: say what was missing)
            raise NoSamples(f"no frame painted within {TIMEOUT_MS} ms of logging in: {exc}") from None
        took.append(page.evaluate("window.__bench.first") - clicked)
        context.close()
    return {"login_first_frame_ms": [round(t) for t in took],
            "login_first_frame_max_ms": round(max(took))}


def _one_console(pages: Pages, cpu: StationCpu, dogs: Dogs, idle_pct: float) -> dict[str, object]:
    context, page = pages.open()
    pages.log_in(page)
    page.wait_for_function("() => window.__bench.first !== null", timeout=TIMEOUT_MS)
    page.wait_for_timeout(WARM_UP_S * 1000)
    drain(page)
    cdp = context.new_cdp_session(page)
    cpu.since_mark()
    paints: list[list[Any]] = []
    alarms: list[float] = []
    shown: set[str] = set()
    last_drain = time.time()
    heap: list[float] = []
    published_before = set(dogs.events)
    end = time.monotonic() + MINUTES * 60
    while time.monotonic() < end:
        page.wait_for_timeout(HEAP_EVERY_S * 1000)
        got = drain(page)
        paints += got["paints"]
        for key, shown_ms in got["alarms"]:
            ts = dogs.events.get(key)
            if ts is not None and key not in published_before:
                alarms.append(shown_ms - ts * 1000)
                shown.add(key)
        last_drain = time.time()
        heap.append(heap_mb(cdp))
    one_pct = cpu.since_mark()
    # an alarm counts as missing only if it had 2 s to show before the last look at the page
    due = {key for key, ts in list(dogs.events.items())
           if key not in published_before and ts < last_drain - 2.0}
    context.close()
    third = max(1, len(heap) // 3)
    out: dict[str, object] = paint_figures("console", paints, MINUTES * 60, "stamped frames read "
                                           "from the console's tiles (is the probe reading the bands?)")
    out.update({
        "alarm_p50_ms": percentile(alarms, 0.5), "alarm_p95_ms": percentile(alarms, 0.95,
                                                                            "alarms shown"),
        "alarm_max_ms": max(alarms), "alarms_shown": f"{len(due & shown)}/{len(due)}",
        "station_cpu_1_viewer_pct": round(one_pct, 1),
        "station_cpu_per_viewer_1_pct": round(one_pct - idle_pct, 1),
        "heap_samples": len(heap),
        "heap_start_mb": round(statistics.median(heap[:third]), 1),
        "heap_end_mb": round(statistics.median(heap[-third:]), 1),
        "heap_max_mb": round(max(heap), 1),
    })
    return out


def _eight_consoles(pages: Pages, cpu: StationCpu, idle_pct: float) -> dict[str, object]:
    """Station CPU with 8 consoles open, and the frames each page showed meanwhile (a page that
    cannot keep up takes fewer: newest wins, so the station sends fewer too)."""
    opened = []
    for _ in range(8):
        context, page = pages.open()
        pages.log_in(page)
        opened.append((context, page))
    for _context, page in opened:
        page.wait_for_function("() => [...document.querySelectorAll('.tile img.video')]"
                               ".filter(i => i.naturalWidth).length === 8", timeout=TIMEOUT_MS)
    time.sleep(WARM_UP_S)
    for _context, page in opened:
        drain(page)
    cpu.since_mark()
    time.sleep(CPU_WINDOW_S)
    eight = cpu.since_mark()
    shown = [len(drain(page)["paints"]) for _context, page in opened]
    for context, _page in opened:
        context.close()
    return {"station_cpu_8_viewers_pct": round(eight, 1),
            "station_cpu_per_viewer_8_pct": round((eight - idle_pct) / 8, 1),
            # frames per second per page (all 8 dogs): 55 sent by the dogs
            "eight_viewers_fps_per_page": round(statistics.mean(shown) / CPU_WINDOW_S, 1),
            "eight_viewers_fps_min_page": round(min(shown) / CPU_WINDOW_S, 1)}


def _plain_viewer(pages: Pages) -> dict[str, object]:
    """Today's page: one card per dog, MJPEG per card, the API polled every second."""
    context, page = pages.open("/viewer")
    pages.log_in(page)
    page.wait_for_timeout(WARM_UP_S * 1000)
    drain(page)
    page.wait_for_timeout(VIEWER_S * 1000)
    paints = drain(page)["paints"]
    context.close()
    return paint_figures("viewer", paints, VIEWER_S, "stamped frames read from the plain viewer's cards")
