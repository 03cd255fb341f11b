"""Storage's reads (web API, summaries), on their own connection: WAL / MVCC let them run beside the writer."""
from __future__ import annotations

import json
import threading
from typing import Any


class StorageReads:
    """The read half of Storage (station.storage.writer), which opens `_reader` and `_read_lock`."""

    backend: Any
    _reader: Any
    _read_lock: threading.Lock

    def _query(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            cur = self._reader.cursor()
            try:
                cur.execute(self.backend.sql(text), params)
                rows: list[tuple[Any, ...]] = cur.fetchall()
            finally:
                cur.close()
            self._reader.commit()  # end the read transaction: the next read sees new commits
        return rows

    def fleet(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT dog, status, last_seen, registered FROM dogs ORDER BY dog")
        return [{"dog": d, "status": s, "last_seen": t, "registered": bool(r)} for d, s, t, r in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per dog: telemetry rows stored, video frames counted, events stored."""
        out: dict[str, dict[str, int]] = {}
        for key, text in (("telemetry", "SELECT dog, count(*) FROM telemetry GROUP BY dog"),
                          ("frames", "SELECT dog, sum(count) FROM frames GROUP BY dog"),
                          ("events", "SELECT dog, count(*) FROM events GROUP BY dog")):
            for dog, n in self._query(text):
                out.setdefault(dog, {"telemetry": 0, "frames": 0, "events": 0})[key] = int(n)
        return out

    def latest_telemetry(self, dog: str) -> dict[str, Any] | None:
        rows = self._query("SELECT doc FROM telemetry WHERE dog = ? ORDER BY id DESC LIMIT 1", (dog,))
        return json.loads(rows[0][0]) if rows else None

    def poses(self, dog: str) -> list[tuple[float, float]]:
        """The dog's stored positions (telemetry `pose`, m) in arrival order: its track."""
        out = []
        for (text,) in self._query("SELECT doc FROM telemetry WHERE dog = ? ORDER BY id", (dog,)):
            pose = json.loads(text).get("pose", {})
            if "x" in pose and "y" in pose:
                out.append((float(pose["x"]), float(pose["y"])))
        return out

    def telemetry_seqs(self, dog: str) -> list[int]:
        """Every stored telemetry seq of `dog` in arrival order (tests, outage checks)."""
        return [r[0] for r in self._query("SELECT seq FROM telemetry WHERE dog = ? ORDER BY id", (dog,))]

    def events(self, dog: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._query("SELECT doc, received FROM events WHERE dog = ? ORDER BY ts DESC, id "
                           "LIMIT ?", (dog, limit))
        return [{**json.loads(doc), "received": received} for doc, received in rows]

    def alarms(self, limit: int = 100, dog: str | None = None) -> list[dict[str, Any]]:
        """Events of every dog (or one), newest first, each with who acknowledged it and when
        (`acked_by`, `acked_at`: None while unacknowledged)."""
        where, params = ("WHERE e.dog = ? ", (dog, limit)) if dog else ("", (limit,))
        rows = self._query("SELECT e.doc, e.received, a.acked_by, a.acked_at FROM events e "
                           "LEFT JOIN alarm_acks a ON a.dog = e.dog AND a.event_id = e.id "
                           f"{where}ORDER BY e.ts DESC, e.id LIMIT ?", params)
        return [{**json.loads(doc), "received": received, "acked_by": by, "acked_at": at}
                for doc, received, by, at in rows]

    def unacknowledged(self, severity: str = "critical") -> int:
        """Events of `severity` nobody acknowledged yet."""
        rows = self._query("SELECT count(*) FROM events e LEFT JOIN alarm_acks a ON "
                           "a.dog = e.dog AND a.event_id = e.id WHERE e.severity = ? AND "
                           "a.acked_by IS NULL", (severity,))
        return int(rows[0][0])

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest messages that could never be stored, newest first."""
        rows = self._query("SELECT topic, size, reason, received, detail FROM dead_letters "
                           "ORDER BY id DESC LIMIT ?", (limit,))
        keys = ("topic", "size", "reason", "received", "detail")
        return [dict(zip(keys, row)) for row in rows]

    def commands(self, dog: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._query("SELECT nonce, verb, args, issuer, issued_at, code, ok, message, result_at "
                           "FROM commands WHERE dog = ? ORDER BY issued_at DESC, result_at DESC "
                           "LIMIT ?", (dog, limit))
        keys = ("nonce", "verb", "args", "issuer", "issued_at", "code", "ok", "message", "result_at")
        out = []
        for row in rows:
            item = dict(zip(keys, row))
            item["args"] = json.loads(item["args"]) if item["args"] else None
            item["ok"] = None if item["ok"] is None else bool(item["ok"])
            item["answers"] = []
            out.append(item)
        # Every cmd/result received for these commands, first first (the audit row keeps the
        # first from the addressed dog; a replay's `replayed` or another dog's answer shows here).
        by_nonce = {item["nonce"]: item for item in out}
        answers = self._query(
            "SELECT r.nonce, r.dog, r.code, r.ok, r.message, r.ts, r.received FROM command_results r "
            "JOIN (SELECT nonce FROM commands WHERE dog = ? ORDER BY issued_at DESC, result_at DESC "
            "LIMIT ?) c ON r.nonce = c.nonce ORDER BY r.id", (dog, limit))
        for nonce, d, c, ok, m, ts, r in answers:
            if nonce in by_nonce:  # (ties in the order may pick another set at the page's edge)
                by_nonce[nonce]["answers"].append({"dog": d, "code": c, "ok": bool(ok),
                                                   "message": m, "ts": ts, "received": r})
        return out

    def evidence_recordings(self, dog: str, since: float | None = None,
                            until: float | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """A dog's recordings overlapping [since, until] (s since the epoch), newest first, each
        with how many of its manifest's items the station holds verified."""
        rows = self._query(
            "SELECT r.recording, r.device, r.officer, r.reason, r.started_at, r.ended_at, r.locked, "
            "r.items, r.received, (SELECT count(*) FROM evidence_items i WHERE i.dog = r.dog AND "
            "i.recording = r.recording AND i.state = 'verified') FROM evidence_recordings r "
            "WHERE r.dog = ? AND (r.ended_at IS NULL OR r.ended_at >= ?) AND r.started_at <= ? "
            "ORDER BY r.started_at DESC LIMIT ?",
            (dog, -1e18 if since is None else since, 1e18 if until is None else until, limit))
        keys = ("recording", "device", "officer", "reason", "started_at", "ended_at", "locked",
                "items", "received", "verified")
        out = []
        for row in rows:
            item = dict(zip(keys, row))
            item["locked"], item["verified"] = bool(item["locked"]), int(item["verified"])
            out.append(item)
        return out

    def evidence_items(self, dog: str, recording: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT seq, kind, file, size, sha256, start_at, end_at, state, verified_at "
                           "FROM evidence_items WHERE dog = ? AND recording = ? ORDER BY seq",
                           (dog, recording))
        keys = ("seq", "kind", "file", "size", "sha256", "start", "end", "state", "verified_at")
        return [dict(zip(keys, row)) for row in rows]

    def event(self, dog: str, event_id: str) -> dict[str, Any] | None:
        """One stored event of `dog` by its id (None: not received, or not committed yet)."""
        rows = self._query("SELECT doc, received FROM events WHERE dog = ? AND id = ?", (dog, event_id))
        return {**json.loads(rows[0][0]), "received": rows[0][1]} if rows else None
