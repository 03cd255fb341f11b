"""`robot-dog evidence`: verify recorded evidence and export a case (robot_dog.bodycam).

  robot-dog evidence verify PATH [--key PUB]     PATH: an evidence directory, a recording's
                                                 directory, an exported case (directory or .tar)
  robot-dog evidence export EVIDENCE_DIR --out CASE.tar [--recording ID ...] --actor NAME --reason TEXT

`verify` exits 0 when everything is intact and the signatures hold, 1 when anything is damaged
(each damaged item is named), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from robot_dog.bodycam.audit import AUDIT_FILE, AuditLog
from robot_dog.bodycam.store import CASE_FILE, PUBLIC_KEY
from robot_dog.bodycam.verify import verify
from robot_dog.cli import command_line
from robot_dog.mqtt import signing

CASE_README = """\
Evidence case exported {when} UTC from {source} by {actor}: {reason}

Contents
  recordings/<id>/manifest.json   the recording's items in a SHA-256 hash chain, signed (Ed25519)
  recordings/<id>/*.mp4, *.jpg    video segments (H.264 in fragmented MP4) and stills
  audit.log                       the recorder's append-only, hash-chained audit log
  evidence.pub                    the recorder's public evidence key (PEM); compare it with the
                                  station's copy (station/evidence_keys/<dog>.pub)

How to verify
  robot-dog evidence verify <this case> --key <the station's copy of the public key>

Without the tool: each manifest's `sig` is Ed25519 (base64url, unpadded) over the bytes
"robot-dog evidence manifest v1\\n" followed by the manifest without `sig` as JSON with sorted
keys and no whitespace. Each entry's `sha256` is the SHA-256 of its file (compare with
`sha256sum`); `hash` is the SHA-256 of the entry without `hash` in the same JSON form, and each
entry's `prev` is the `hash` of the entry before it (the first: the manifest's `chain_prev`).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robot-dog evidence", formatter_class=command_line.HelpFormatter,
                                     description="Verify the recorder's evidence and export a case.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser("verify", help="check segments, chain, signatures and audit log")
    check.add_argument("path", help="evidence directory, recording directory, or exported case (dir or .tar)")
    check.add_argument("--key", default=None, metavar="PUB",
                       help="the recorder's public evidence key (default: evidence.pub found beside PATH)")
    export = sub.add_parser("export", help="pack recordings, audit log, public key and a README")
    export.add_argument("evidence_dir", help="the recorder's evidence directory")
    export.add_argument("--out", required=True, help="the case file to write (.tar)")
    export.add_argument("--recording", action="append", default=[], metavar="ID",
                        help="recording to include (repeat; default: all)")
    export.add_argument("--actor", required=True, help="who exports (written to the audit log)")
    export.add_argument("--reason", required=True, help="why (case number; written to the audit log)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "verify":
        return _verify(Path(args.path), args.key)
    return _export(Path(args.evidence_dir), Path(args.out), args.recording, args.actor, args.reason)


def _verify(path: Path, key_path: str | None) -> int:
    try:
        key = signing.load_verify_key(key_path) if key_path else None
    except (OSError, ValueError) as exc:
        print(f"robot-dog evidence: cannot read key {key_path}: {exc}", file=sys.stderr)
        return 2
    if not path.exists():
        print(f"robot-dog evidence: {path} does not exist", file=sys.stderr)
        return 2
    if path.is_file():
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(path) as tar:
            tar.extractall(tmp, filter="data")
            inner = [p for p in Path(tmp).iterdir() if p.is_dir()]
            return _print(verify(inner[0] if len(inner) == 1 else Path(tmp), key))
    return _print(verify(path, key))


def _print(report) -> int:
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _export(root: Path, out: Path, recordings: list[str], actor: str, reason: str) -> int:
    rec_dir = root / "recordings"
    if not rec_dir.is_dir():
        print(f"robot-dog evidence: {root} is not an evidence directory", file=sys.stderr)
        return 2
    chosen = recordings or sorted(p.name for p in rec_dir.iterdir() if p.is_dir())
    missing = [r for r in chosen if not (rec_dir / r).is_dir()]
    if missing:
        print(f"robot-dog evidence: no recording(s) {', '.join(missing)} in {root}", file=sys.stderr)
        return 2
    AuditLog(root / AUDIT_FILE).append(actor, "exported", ",".join(chosen), f"{reason} -> {out.name}")
    case = out.stem
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    readme = CASE_README.format(when=when, source=root.resolve(), actor=actor, reason=reason).encode()
    with tarfile.open(out, "w") as tar:
        for rec in chosen:
            tar.add(rec_dir / rec, f"{case}/recordings/{rec}")
        tar.add(root / AUDIT_FILE, f"{case}/{AUDIT_FILE}")
        tar.add(root / PUBLIC_KEY, f"{case}/{PUBLIC_KEY}")
        listing = json.dumps({"recordings": chosen, "exported_by": actor, "reason": reason}).encode()
        for name, data in (("README.txt", readme), (CASE_FILE, listing)):
            info = tarfile.TarInfo(f"{case}/{name}")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
    print(f"exported {len(chosen)} recording(s) to {out}")
    return 0
