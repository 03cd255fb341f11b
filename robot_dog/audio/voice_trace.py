"""Where each live-voice chunk's time goes inside the megaphone (pure; off unless asked for).

For every live-voice chunk (by source and sequence: each source numbers its own): when it was received, when the mixer frame holding its first
sample was pulled from the jitter buffer (and that sample's offset in the frame, s), when the
frame was mixed and when its write to the speaker returned; or why it never played (refused by
the jitter buffer: late, duplicate, overflow; or shed/trimmed there). Times are
`time.monotonic()` (CLOCK_MONOTONIC: one clock for every process on the machine), so a
benchmark can join them with its own send times and its recording of the speaker and print
each stage (network, jitter buffer, mixer, device) and the stage where a lost chunk was lost.
"""
from __future__ import annotations

import json
from pathlib import Path

from robot_dog.audio.devices import RATE_HZ

#: Chunks kept (50 per second: about 7 minutes), so a forgotten trace cannot grow without bound.
LIMIT = 20_000


class VoiceTrace:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._rows: dict[tuple[str, int], dict[str, object]] = {}

    def _row(self, source: str, sequence: int) -> dict[str, object] | None:
        row = self._rows.get((source, sequence))
        if row is None and len(self._rows) < self.limit:
            row = self._rows[source, sequence] = {"source": source, "seq": sequence}
        return row

    def received(self, source: str, sequence: int, at: float, refusal: str = "") -> None:
        row = self._row(source, sequence)
        if row is not None:
            row["received"] = at
            if refusal:
                row["dropped"] = refusal

    def frame(self, source: str, started: list[tuple[int, int]],
              discarded: list[tuple[int, str]], pulled: float, mixed: float,
              written: float) -> None:
        """One mixer frame: the chunks of `source` that started in it (sequence, sample offset)
        and those dropped before playing (sequence, reason)."""
        for sequence, offset in started:
            row = self._row(source, sequence)
            if row is not None:
                row.update(pulled=pulled, offset_s=offset / RATE_HZ, mixed=mixed, written=written)
        for sequence, reason in discarded:
            row = self._row(source, sequence)
            if row is not None:
                row["dropped"] = reason

    def rows(self) -> list[dict[str, object]]:
        return list(self._rows.values())

    def dump(self, path: Path) -> None:
        """JSON lines, one chunk each (written whole, then renamed)."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in self._rows.values()))
        tmp.replace(path)


def load(path: Path, source: str) -> dict[int, dict[str, object]]:
    """The chunks of one source in a dumped trace, by sequence."""
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {int(row["seq"]): row for row in rows if row["source"] == source}
