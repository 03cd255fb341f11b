"""Where a bodycam frame's CPU goes, stage by stage, at the dog's 640x480: the scene, the burned-in
overlay, the live JPEG, and the recorder's H.264 encoder (the colour conversion apart from
x264 itself), for the shipped encoder settings and the alternatives weighed against them.

Each stage's cost is this thread's CPU time (`time.thread_time`) per frame over FRAMES frames
(20 s of video at 15 fps: 20 keyframes at one a second), so other processes on a shared machine
inflate it less than wall time would. For every encoder setting: the bitrate (kbit/s at 15 fps,
and MB per hour) and the PSNR of the decoded frames against the frames fed (dB, luma and chroma
as ffmpeg weighs them, 4:1:1), the price a cheaper setting pays in bytes and quality.

The bodycam without OpenCV (`opencv_free_*` figures): each OpenCV call the bodycam makes beside
its closest replacement from PyAV, Pillow or numpy (libraries the bodycam loads anyway), the two
measured alternately in the same run (REPEATS pairs, the median of each), as CPU time of the
process: OpenCV runs some calls on its own thread pool, which the thread's time would miss.

Two pictures: the test scene (colour bars, a moving disc: flat, cheap to encode) and the same
with sensor-like noise (Gaussian, sigma NOISE_SIGMA grey levels, new every frame), which is
closer to what a real camera gives the encoder and what x264 spends most on. Kind: absolute
(this machine), and same-run ratios between settings.
"""
from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageDraw

from robot_dog.bodycam.encoding import VideoEncoder, VideoSettings
from robot_dog.bodycam.scene import (Overlay, TestScene, _font, _layout, burn_in,
                                     encode_jpeg, line_rows)

W, H, FPS = 640, 480, 15.0
FRAMES = 300
REPEATS = 3
NOISE_SIGMA = 3.0
T0 = 1_800_000_000.0
#: name -> (preset, extra x264 options); the first is what the recorder ships.
SETTINGS: dict[str, tuple[str, str]] = {
    "veryfast": ("veryfast", ""),
    "superfast": ("superfast", ""),
    "ultrafast": ("ultrafast", ""),
    # ultrafast's analysis with the entropy coder and loop filter it drops (most of its size)
    "ultrafast_cabac": ("ultrafast", "cabac=1:deblock=1"),
    "ultrafast_cabac_aq": ("ultrafast", "cabac=1:deblock=1:aq-mode=1:8x8dct=1"),
    "superfast_sub0": ("superfast", "subme=0"),
}


def _thread_ms(fn: Callable[[int], object], n: int) -> float:
    start = time.thread_time()
    for i in range(n):
        fn(i)
    return (time.thread_time() - start) / n * 1000


def _pictures(noisy: bool) -> list[np.ndarray]:
    scene, overlay = TestScene(W, H), Overlay("DOG-0001", "000042")
    rng = np.random.default_rng(7)
    frames = []
    for i in range(FRAMES):
        t = T0 + i / FPS
        frame = scene.render_background(t)
        if noisy:
            noise = rng.normal(0.0, NOISE_SIGMA, frame.shape)
            frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
        burn_in(frame, overlay, t)
        frames.append(frame)
    return frames


def _psnr(decoded: list[np.ndarray], fed: list[np.ndarray]) -> float:
    """PSNR over all frames in YUV 4:2:0 (ffmpeg's weighting: Y 4, U 1, V 1), dB."""
    mse = 0.0
    for got, want in zip(decoded, fed):
        a = cv2.cvtColor(got, cv2.COLOR_BGR2YUV_I420).astype(np.float64)
        b = cv2.cvtColor(want, cv2.COLOR_BGR2YUV_I420).astype(np.float64)
        mse += float(np.mean((a - b) ** 2))
    mse /= max(1, len(decoded))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _encoder(name: str) -> VideoEncoder:
    preset, params = SETTINGS[name]
    return VideoEncoder(VideoSettings(W, H, FPS, preset=preset, x264_params=params))


def _encode(name: str, frames: list[np.ndarray]) -> dict[str, float]:
    encoder = _encoder(name)
    packets: list[bytes] = []
    ms = _thread_ms(lambda i: packets.extend(p.data for p in encoder.encode(frames[i], T0 + i / FPS)),
                    len(frames))
    decoder = av.CodecContext.create("h264", "r")
    decoder.extradata = encoder.extradata
    decoded = []
    for data in packets:
        for frame in decoder.decode(av.Packet(data)):
            decoded.append(frame.to_ndarray(format="bgr24"))
    encoder.close()
    seconds = len(frames) / FPS
    size = sum(len(p) for p in packets)
    return {"ms_per_frame": ms, "pct_of_core_at_15fps": ms * FPS / 10,
            "kbit_per_s": size * 8 / seconds / 1000, "mb_per_hour": size / seconds * 3600 / 1e6,
            "psnr_db": _psnr(decoded, frames[:len(decoded)]), "frames_decoded": len(decoded)}


def _stages(frames: list[np.ndarray]) -> dict[str, float]:
    scene, overlay = TestScene(W, H), Overlay("DOG-0001", "000042")
    out = {"scene_ms": _thread_ms(lambda i: scene.render_background(T0 + i / FPS), FRAMES)}
    blank = [scene.render_background(T0 + i / FPS) for i in range(30)]
    out["overlay_ms"] = _thread_ms(lambda i: burn_in(blank[i % 30], overlay, T0 + i / FPS), FRAMES)
    out["jpeg_q80_ms"] = _thread_ms(lambda i: encode_jpeg(frames[i], 80), FRAMES)
    out["bgr_to_i420_cv2_ms"] = _thread_ms(lambda i: cv2.cvtColor(frames[i], cv2.COLOR_BGR2YUV_I420), FRAMES)
    reformat = lambda i: av.VideoFrame.from_ndarray(frames[i], format="bgr24").reformat(format="yuv420p")
    out["bgr_to_i420_swscale_ms"] = _thread_ms(reformat, FRAMES)
    return out


def _cpu_ms(fn: Callable[[int], object], n: int) -> float:
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1000


class _PillowOverlay:
    """The cheapest overlay without OpenCV we found: the band dimmed by shifts (x 0.344, not the
    table's 0.35: numpy's `take` through the table costs 0.13 ms, more than the whole OpenCV
    overlay), each line drawn by Pillow into a grey mask in the CJK font the overlay already
    uses for names, at the same place (the two lines that change only with the officer or the
    fix drawn once and kept; the clock on every frame), laid on as the brighter of band and mask
    over the text's box (the mask repeated to three channels: numpy's broadcast of one channel
    over three is 30x slower)."""

    def __init__(self, height: int) -> None:
        self.height = height
        scale, self.line_h, _first = _layout(height)
        self.font = _font(max(8, round(30 * scale)))
        self._kept: dict[tuple[int, str], tuple[np.ndarray, int, int]] = {}

    def _mask(self, line: int, text: str) -> tuple[np.ndarray, int, int]:
        rows = line_rows(self.height, line)
        image = Image.new("L", (W, rows.stop - rows.start))
        baseline = _layout(self.height)[2] + line * self.line_h
        ImageDraw.Draw(image).text((10, baseline - rows.start), text, font=self.font, fill=255,
                                   anchor="ls")
        left, _top, right, _bottom = image.getbbox() or (0, 0, 1, 1)
        return np.repeat(np.asarray(image)[:, left:right, None], 3, axis=2), rows.start, left

    def burn_in(self, frame: np.ndarray, lines: list[str]) -> None:
        band = frame[0:self.line_h * len(lines) + 8]
        dimmed = band >> 2
        dimmed += band >> 4
        dimmed += band >> 5
        band[:] = dimmed
        for n, text in enumerate(lines):
            if n == 0:
                mask, top, left = self._mask(n, text)
            else:
                if (n, text) not in self._kept:
                    self._kept[(n, text)] = self._mask(n, text)
                mask, top, left = self._kept[(n, text)]
            region = frame[top:top + mask.shape[0], left:left + mask.shape[1]]
            np.maximum(region, mask, out=region)


class _DiscSprite:
    """The test scene's disc without OpenCV: its anti-aliased edge computed once (4x4
    supersampled), blended in at the disc's place on every frame with integer arithmetic."""

    def __init__(self, height: int, colour: tuple[int, int, int] = (30, 30, 220)) -> None:
        self.r = max(8, height // 10)
        size, sub = 2 * self.r + 3, 4
        axis = (np.arange(size * sub) + 0.5) / sub - size / 2
        inside = (axis[None, :] ** 2 + axis[:, None] ** 2) <= self.r ** 2
        coverage = inside.reshape(size, sub, size, sub).mean(axis=(1, 3))
        self.alpha = np.round(coverage * 256).astype(np.uint16)[:, :, None]
        self.ink = self.alpha * np.array(colour, np.uint16)
        self.keep = 256 - self.alpha

    def draw(self, frame: np.ndarray, cx: int, cy: int) -> None:
        half = self.alpha.shape[0] // 2
        patch = frame[cy - half:cy - half + self.alpha.shape[0], cx - half:cx - half + self.alpha.shape[1]]
        patch[:] = (patch * self.keep + self.ink) >> 8


def _pillow_jpeg(frame: np.ndarray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.frombuffer("RGB", (frame.shape[1], frame.shape[0]), frame, "raw", "BGR", 0, 1) \
        .save(out, "JPEG", quality=quality)
    return out.getvalue()


def _overlay_lines(stamp: float) -> list[str]:
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"
    return [clock, "DEV DOG-0001  OFC 000042", "36.65120N 117.12010E"]


def _opencv_free(frames: list[np.ndarray]) -> dict[str, float]:
    """Each OpenCV call of the bodycam against its replacement, alternated, CPU ms per frame."""
    scene, overlay, sprite = TestScene(W, H), Overlay("DOG-0001", "000042"), _DiscSprite(H)
    blank = [scene.render_background(T0 + i / FPS) for i in range(30)]
    bars = [b.copy() for b in blank]
    pillow_overlay, reformatter = _PillowOverlay(H), VideoReformatter()
    camera = [cv2.resize(f, (800, 600)) for f in frames[:30]]   # a camera at another size
    pairs: dict[str, tuple[Callable[[int], object], Callable[[int], object]]] = {
        "bgr_to_i420": (
            lambda i: cv2.cvtColor(frames[i], cv2.COLOR_BGR2YUV_I420),
            # swscale with its context kept, the frame wrapped without a copy
            lambda i: reformatter.reformat(av.VideoFrame.from_numpy_buffer(frames[i], format="bgr24"),
                                           format="yuv420p")),
        "jpeg_q80": (lambda i: encode_jpeg(frames[i], 80), lambda i: _pillow_jpeg(frames[i], 80)),
        "overlay": (lambda i: burn_in(blank[i % 30], overlay, T0 + i / FPS),
                    lambda i: pillow_overlay.burn_in(blank[i % 30], _overlay_lines(T0 + i / FPS))),
        "disc": (lambda i: cv2.circle(bars[i % 30], (200, 300), sprite.r, (30, 30, 220), -1, cv2.LINE_AA),
                 lambda i: sprite.draw(bars[i % 30], 200, 300)),
        "resize_800x600_area": (
            lambda i: cv2.resize(camera[i % 30], (W, H), interpolation=cv2.INTER_AREA),
            lambda i: reformatter.reformat(av.VideoFrame.from_numpy_buffer(camera[i % 30], format="bgr24"),
                                           W, H, interpolation="AREA").to_ndarray()),
    }
    out: dict[str, float] = {}
    for name, (opencv, replacement) in pairs.items():
        runs = [(_cpu_ms(opencv, FRAMES), _cpu_ms(replacement, FRAMES)) for _ in range(REPEATS)]
        out[f"{name}_opencv_ms"] = statistics.median(a for a, _b in runs)
        out[f"{name}_replacement_ms"] = statistics.median(b for _a, b in runs)
    # What a frame at rest would pay more: the disc, the overlay, the live JPEG (the uplink
    # subscribes at rest) and the recorder's conversion; a camera at the node's size needs no resize.
    out["at_rest_extra_ms"] = sum(out[f"{name}_replacement_ms"] - out[f"{name}_opencv_ms"]
                                  for name in ("bgr_to_i420", "jpeg_q80", "overlay", "disc"))
    out["at_rest_extra_pct_of_core_at_15fps"] = out["at_rest_extra_ms"] * FPS / 10
    return out


def run() -> dict[str, object]:
    figures: dict[str, object] = {"frames": FRAMES, "size": f"{W}x{H}", "fps": FPS}
    for picture, noisy in (("scene", False), ("noisy", True)):
        frames = _pictures(noisy)
        if not noisy:
            figures.update({f"stage_{k}": v for k, v in _stages(frames).items()})
            figures.update({f"opencv_free_{k}": v for k, v in _opencv_free(frames).items()})
        for name in SETTINGS:
            for key, value in _encode(name, frames).items():
                figures[f"{picture}_{name}_{key}"] = value
    return figures
