"""A secret sealed for the one station request that asked (robot_dog/mqtt/reply_seal.py):
it opens only with that request's private key and context, a changed byte is refused, and
what the command carries (the public key) does not open it."""
from __future__ import annotations

import pytest

from robot_dog.mqtt import reply_seal
from robot_dog.mqtt.talk_seal import KEY_TEXT


def test_a_sealed_code_opens_with_its_request_key_and_context_only():
    key = reply_seal.RequestKey()
    assert KEY_TEXT.fullmatch(key.public)
    sealed = reply_seal.seal(key.public, "042917", "王警官")
    assert "042917" not in sealed
    assert key.open(sealed, "王警官") == "042917"
    assert reply_seal.seal(key.public, "042917", "王警官") != sealed   # fresh key and nonce
    for wrong_key, context in ((reply_seal.RequestKey(), "王警官"), (key, "李警官")):
        with pytest.raises(reply_seal.SealedReplyError) as refused:
            wrong_key.open(sealed, context)
        assert refused.value.code == "bad_sealed_reply"


def test_the_public_key_in_the_command_does_not_open_it():
    """What a broker sees (the command's public key, the sealed result) opens nothing: sealing
    to the public key text as if it were a shared key, or opening with a key pair made from
    it, fails."""
    key = reply_seal.RequestKey()
    sealed = reply_seal.seal(key.public, "314159", "otto")
    eavesdropper = reply_seal.RequestKey()
    eavesdropper.public = key.public          # knows the public half, not the private one
    with pytest.raises(reply_seal.SealedReplyError):
        eavesdropper.open(sealed, "otto")


@pytest.mark.parametrize("sealed", ["", None, 42, "!!!!", "A" * 300, "AAAA"])
def test_garbage_is_refused_with_the_code(sealed):
    with pytest.raises(reply_seal.SealedReplyError):
        reply_seal.RequestKey().open(sealed, "x")


def test_a_changed_character_is_refused():
    key = reply_seal.RequestKey()
    sealed = reply_seal.seal(key.public, "123456", "otto")
    for at in (2, 50, -2):   # the dog's public key, the nonce or body, the tag
        changed = sealed[:at] + ("A" if sealed[at] != "A" else "B") + sealed[at + 1:]
        with pytest.raises(reply_seal.SealedReplyError):
            key.open(changed, "otto")


@pytest.mark.parametrize("bad", ["short", "A" * 43, None])
def test_a_bad_key_is_refused_before_anything_is_sealed(bad):
    """Too short, the all-zero point (no shared secret), not text."""
    with pytest.raises(reply_seal.SealedReplyError):
        reply_seal.seal(bad, "123456", "otto")
