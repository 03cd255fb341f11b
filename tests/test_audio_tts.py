"""Offline TTS: English, Mandarin via pinyin (speech, not English letter names), bad input."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio import tts
from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.pcm import dbfs
from robot_dog.payload.errors import RequestRefused

HANZI = "请注意，前方道路封闭，请绕行。"


def voiced_seconds(signal: np.ndarray) -> float:
    frames = signal[: len(signal) // 480 * 480].reshape(-1, 480)
    return float(np.sum(np.sqrt(np.mean(frames ** 2, axis=1)) > 0.01) * 0.01)


@pytest.mark.slow
def test_english_speech() -> None:
    audio = tts.synthesize("Attention please, keep this area clear.", "en")
    assert 1.0 < len(audio) / RATE_HZ < 6.0 and voiced_seconds(audio) > 1.0
    assert dbfs(audio) > -40


def test_hanzi_becomes_tone_numbered_pinyin() -> None:
    assert tts.to_pinyin(HANZI) == "qing3 zhu4 yi4 , qian2 fang1 dao4 lu4 feng1 bi4 , qing3 rao4 xing2 ."
    assert tts.to_pinyin("already latin") == "already latin"


@pytest.mark.slow
def test_mandarin_is_spoken_as_mandarin_not_english_letter_names() -> None:
    ours = tts.phonemes(HANZI, "cmn")
    assert "(en)" not in ours                      # no switch to the English voice
    assert any(tone in ours for tone in ("51", "214", "35", "55"))  # Mandarin tone contours
    # The plain `cmn` voice on this espeak-ng reads Hanzi through English: what we avoid.
    import subprocess
    naive = subprocess.run(["espeak-ng", "-v", "cmn", "-q", "-x", HANZI], capture_output=True,
                           text=True, check=True).stdout
    assert "(en)" in naive
    speech = tts.synthesize(HANZI, "cmn")
    syllables = 13
    assert 0.15 < voiced_seconds(speech) / syllables < 0.6   # syllable-rate speech


def test_language_aliases_and_unknown() -> None:
    assert tts.language_of("zh") == "cmn" and tts.language_of("EN") == "en"
    assert tts.language_of("") == "en"
    with pytest.raises(RequestRefused, match="unknown language 'fr'"):
        tts.synthesize("bonjour", "fr")


@pytest.mark.parametrize("text, match", [("", "empty"), ("   \n", "empty"),
                                         ("word " * 2000, "10000 characters|above")])
def test_bad_text_refused(text: str, match: str) -> None:
    with pytest.raises(RequestRefused, match=match):
        tts.synthesize(text, "en")


@pytest.mark.slow
def test_text_is_not_read_as_options() -> None:
    audio = tts.synthesize("--version", "en")
    assert voiced_seconds(audio) > 0.3
