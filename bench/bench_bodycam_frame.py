"""Where a bodycam frame's CPU goes, stage by stage, at the dog's 640x480: the scene, the burned-in
overlay, the live JPEG, and the recorder's H.264 encoder (the colour conversion apart from
x264 itself), for the shipped encoder settings and the alternatives weighed against them.

Each stage's cost is this thread's CPU time (`time.thread_time`) per frame over FRAMES frames
(20 s of video at 15 fps: 20 keyframes at one a second), so other processes on a shared machine
inflate it less than wall time would. For every encoder setting: the bitrate (kbit/s at 15 fps,
and MB per hour) and the PSNR of the decoded frames against the frames fed (dB, luma and chroma
as ffmpeg weighs them, 4:1:1), the price a cheaper setting pays in bytes and quality.

Two pictures: the test scene (colour bars, a moving disc: flat, cheap to encode) and the same
with sensor-like noise (Gaussian, sigma NOISE_SIGMA grey levels, new every frame), which is
closer to what a real camera gives the encoder and what x264 spends most on. Kind: absolute
(this machine), and same-run ratios between settings.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import av
import cv2
import numpy as np

from robot_dog.bodycam.encoding import VideoEncoder, VideoSettings
from robot_dog.bodycam.scene import Overlay, TestScene, burn_in, encode_jpeg

W, H, FPS = 640, 480, 15.0
FRAMES = 300
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


def run() -> dict[str, object]:
    figures: dict[str, object] = {"frames": FRAMES, "size": f"{W}x{H}", "fps": FPS}
    for picture, noisy in (("scene", False), ("noisy", True)):
        frames = _pictures(noisy)
        if not noisy:
            figures.update({f"stage_{k}": v for k, v in _stages(frames).items()})
        for name in SETTINGS:
            for key, value in _encode(name, frames).items():
                figures[f"{picture}_{name}_{key}"] = value
    return figures
