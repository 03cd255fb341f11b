"""A secret sealed for the one station request that asked (robot_dog/mqtt/reply_seal.py):
it opens only with that request's key and context, and a changed byte is refused."""
from __future__ import annotations

import pytest

from robot_dog.mqtt import reply_seal
from robot_dog.mqtt.talk_seal import KEY_TEXT


def test_a_sealed_code_opens_with_its_key_and_context_only():
    key = reply_seal.new_key()
    assert KEY_TEXT.fullmatch(key)
    sealed = reply_seal.seal(key, "042917", "王警官")
    assert "042917" not in sealed
    assert reply_seal.open_sealed(key, sealed, "王警官") == "042917"
    assert reply_seal.seal(key, "042917", "王警官") != sealed     # a fresh nonce each time
    for wrong_key, context in ((reply_seal.new_key(), "王警官"), (key, "李警官")):
        with pytest.raises(reply_seal.SealedReplyError) as refused:
            reply_seal.open_sealed(wrong_key, sealed, context)
        assert refused.value.code == "bad_sealed_reply"


@pytest.mark.parametrize("sealed", ["", None, 42, "!!!!", "A" * 300, "AAAA"])
def test_garbage_is_refused_with_the_code(sealed):
    with pytest.raises(reply_seal.SealedReplyError):
        reply_seal.open_sealed(reply_seal.new_key(), sealed, "x")


def test_a_changed_character_is_refused():
    key = reply_seal.new_key()
    sealed = reply_seal.seal(key, "123456", "otto")
    changed = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(reply_seal.SealedReplyError):
        reply_seal.open_sealed(key, changed, "otto")


def test_a_bad_key_is_refused_before_anything_is_sealed():
    with pytest.raises(reply_seal.SealedReplyError):
        reply_seal.seal("short", "123456", "otto")
