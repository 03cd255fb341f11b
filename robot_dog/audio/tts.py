"""Offline text-to-speech with espeak-ng: English, and Mandarin through pinyin.

Debian 12's espeak-ng `cmn` voice reads Hanzi as English words ("Chinese letter ..."), so
Mandarin text goes through pypinyin to tone-numbered pinyin (`qing3 zhu4 yi4`) and the
`cmn-latn-pinyin` voice. espeak-ng writes 22.05 kHz WAV to stdout; it is resampled to RATE_HZ.
(A Piper voice on PyPI exists only for English here; the espeak path serves both languages.)
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import io
import logging
import re
import shutil
import subprocess
import wave

import numpy as np

from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.pcm import resample, to_float
from robot_dog.payload.errors import RequestRefused

_LOGGER = logging.getLogger(__name__)

#: language code (as in Announce.language) -> espeak-ng voice
VOICES = {"en": "en", "cmn": "cmn-latn-pinyin"}
ALIASES = {"zh": "cmn", "zh-cn": "cmn", "en-us": "en", "en-gb": "en", "": "en"}
MAX_CHARS = 1000                 # ~2 minutes of speech; longer belongs in a clip
_HANZI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_FULLWIDTH = str.maketrans({"，": ", ", "。": ". ", "！": "! ", "？": "? ", "；": "; ", "：": ": ",
                            "、": ", ", "（": " (", "）": ") ", "“": '"', "”": '"'})


class TtsError(RobotDogError):
    """espeak-ng is missing or failed."""


def language_of(language: str) -> str:
    """The canonical language code; RequestRefused when it is not one we speak."""
    code = ALIASES.get(language.strip().lower(), language.strip().lower())
    if code not in VOICES:
        raise RequestRefused(f"unknown language {language!r}; one of {', '.join(VOICES)}")
    return code


def check_text(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise RequestRefused("empty text")
    if len(text) > MAX_CHARS:
        raise RequestRefused(f"text of {len(text)} characters above the {MAX_CHARS} limit")
    return text


def to_pinyin(text: str) -> str:
    """Hanzi -> tone-numbered pinyin (neutral tone 5); other characters pass through."""
    from pypinyin import Style, lazy_pinyin
    if not _HANZI.search(text):
        return text
    words = lazy_pinyin(text.translate(_FULLWIDTH), style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(w.strip() for w in words if w.strip())


def espeak_input(text: str, language: str) -> tuple[str, str]:
    """(voice, text) for espeak-ng."""
    code = language_of(language)
    text = check_text(text)
    return VOICES[code], (to_pinyin(text) if code == "cmn" else text)


def phonemes(text: str, language: str) -> str:
    """espeak-ng's phoneme transcription (what it would say), for checks and tests."""
    voice, spoken = espeak_input(text, language)
    return _espeak(["-v", voice, "-q", "-x", "--", spoken]).decode("utf-8", "replace").strip()


def synthesize(text: str, language: str) -> np.ndarray:
    """Speech as float32 mono at RATE_HZ. RequestRefused for bad input, TtsError if it fails."""
    voice, spoken = espeak_input(text, language)
    with wave.open(io.BytesIO(_espeak(["-v", voice, "--stdout", "--", spoken]))) as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype=np.int16)
    mono = to_float(samples).reshape(-1, channels).mean(axis=1)
    return resample(mono, rate, RATE_HZ)


def _espeak(args: list[str]) -> bytes:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise TtsError("espeak-ng not found (apt-get install espeak-ng)")
    result = subprocess.run([binary, *args], capture_output=True, timeout=30)
    if result.returncode != 0:
        raise TtsError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
