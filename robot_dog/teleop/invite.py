"""What the demo (or an operator's script) prints so an officer can open the handheld page: its
address, a pairing code and the same as a QR code for the terminal (the `qrcode` library).

The code rides in the address's fragment (`#code=...`): a browser never sends the fragment to
the server (so no log holds it), and the page fills its pairing field from it, so scanning the
QR code leaves one tap (Pair)."""
from __future__ import annotations

import io


def invite_url(page_url: str, code: str) -> str:
    return f"{page_url.rstrip('/')}/#code={code}"


def qr_text(text: str) -> str:
    """`text` as a QR code drawn with block characters (two rows per line), for a terminal."""
    import qrcode
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def invite(page_url: str, code: str, namespace: str, officer: str, code_ttl_s: float = 300.0) -> str:
    """The lines to print: address, code and its officer, how to get a new one, the QR code."""
    return (f"  handheld: {page_url}\n"
            f"            pairing code {code} for officer {officer} (valid {code_ttl_s / 60:g} min, "
            f"once; a new one: robot-dog teleop pair --officer NAME --ns {namespace})\n"
            f"            or scan (the code is in the address):\n"
            + qr_text(invite_url(page_url, code)))
