"""The demo's invitation to the officer: address, pairing code, and a QR code that a phone's
camera reads back as the address with the code (judged by OpenCV's QR detector, not by the
library that drew it)."""
from __future__ import annotations

import numpy as np

from robot_dog.teleop.invite import invite, invite_url

# print_ascii(invert=True): each character is two modules, top and bottom; True = dark.
HALF_BLOCKS = {"\xa0": (True, True), "\u2580": (False, True), "\u2584": (True, False), "\u2588": (False, False)}


def decode_terminal_qr(lines: list[str]) -> str:
    rows = []
    for line in lines:
        pairs = [HALF_BLOCKS[c] for c in line]
        rows += [[top for top, _ in pairs], [bottom for _, bottom in pairs]]
    dark = np.array(rows, dtype=bool)
    image = np.where(dark, 0, 255).astype(np.uint8)
    image = np.pad(image, 4, constant_values=255).repeat(8, axis=0).repeat(8, axis=1)
    import cv2
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def test_invite_prints_address_code_and_a_qr_code_of_both() -> None:
    text = invite("https://127.0.0.1:8443/", "042917", "/dog1", "王警官")
    lines = text.splitlines()
    assert lines[0] == "  handheld: https://127.0.0.1:8443/"
    assert ("pairing code 042917 for officer 王警官 (valid 5 min, once; a new one: "
            "robot-dog teleop pair --officer NAME --ns /dog1)") in lines[1]
    qr = [line for line in lines[3:] if line.strip(" ")]
    assert qr and set("".join(qr)) <= set(HALF_BLOCKS)
    assert decode_terminal_qr(lines[3:]) == "https://127.0.0.1:8443/#code=042917"


def test_the_code_rides_in_the_fragment_never_sent_to_the_server() -> None:
    assert invite_url("https://10.0.0.5:8443", "123456") == "https://10.0.0.5:8443/#code=123456"
