"""Re-encoding a camera JPEG at lower quality/resolution when the link is slow (OpenCV, imported
on the first re-encode: 16 MB resident, measured, that an uplink on a good link never needs)."""
from __future__ import annotations

import numpy as np


def reencode(jpeg: bytes, quality: int, scale: float) -> bytes:
    """`jpeg` at JPEG `quality` (1..100) and `scale` x its resolution; the input if undecodable."""
    import cv2
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return jpeg
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, out = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return out.tobytes() if ok else jpeg
