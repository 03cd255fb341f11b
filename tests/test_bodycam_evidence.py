"""`robot-dog evidence verify` and `export` as an examiner uses them, on real recordings: one
flipped byte is found and located, a deleted segment is named, swapped files are called
reordered, a cut file truncated, a corrupt manifest, a forged signature and an edited audit log
are reported; an exported case verifies on its own with the station's copy of the key."""
from __future__ import annotations

import json
import shutil
import tarfile

from robot_dog.cli import evidence as cli
from robot_dog.mqtt import signing
from tests.fixtures.evidence import EvidenceShape

#: Two recordings of 1 s segments, 3 s and 2 s (tests/fixtures/evidence.py).
EVIDENCE = EvidenceShape(device="DOG-E", seconds=(3.0, 2.0), seed=1)


def run_verify(path, pub, capsys) -> tuple[int, str]:
    code = cli.main(["verify", str(path), "--key", str(pub)])
    return code, capsys.readouterr().out


def first_recording(root):
    return sorted((root / "recordings").iterdir())[0]


def test_untouched_evidence_verifies(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    code, out = run_verify(root, pub, capsys)
    assert code == 0, out
    assert out.count("signature valid") == 2 and out.rstrip().endswith("RESULT: intact")


def test_one_flipped_byte_is_found_and_located(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    segment = sorted(first_recording(root).glob("*.mp4"))[1]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    code, out = run_verify(root, pub, capsys)
    assert code == 1
    damaged = [line for line in out.splitlines() if "ALTERED" in line]
    assert len(damaged) == 1 and segment.name in damaged[0]
    offset = (len(data) // 2) // (1 << 20) * (1 << 20)
    assert f"bytes {offset}-" in damaged[0]
    assert out.count("intact\n") == 4    # every other segment is still intact


def test_a_deleted_segment_is_named(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    segment = sorted(first_recording(root).glob("*.mp4"))[0]
    segment.unlink()
    code, out = run_verify(root, pub, capsys)
    assert code == 1 and f"{segment.name}: MISSING (segment 1)" in out


def test_swapped_segments_are_reordered(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    a, b = sorted(first_recording(root).glob("*.mp4"))[:2]
    tmp = a.with_suffix(".swap")
    a.rename(tmp), b.rename(a), tmp.rename(b)
    code, out = run_verify(root, pub, capsys)
    assert code == 1
    assert f"{a.name}: REORDERED: holds segment 2 ({b.name})" in out
    assert f"{b.name}: REORDERED: holds segment 1 ({a.name})" in out


def test_a_cut_segment_is_truncated(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    segment = sorted(first_recording(root).glob("*.mp4"))[2]
    size = segment.stat().st_size
    with open(segment, "r+b") as f:
        f.truncate(size - 100)
    code, out = run_verify(root, pub, capsys)
    assert code == 1 and f"{segment.name}: TRUNCATED (segment 3): {size - 100} of {size} bytes" in out


def test_a_removed_recording_shows_as_a_chain_gap(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    gone = first_recording(root).name
    shutil.rmtree(first_recording(root))
    code, out = run_verify(root, pub, capsys)
    # What is left is intact and signed, but its chain starts after items that are not there.
    assert "signature valid" in out and gone not in out
    assert code == 1 and "chain gap before" in out and "(seq 4)" in out


def test_a_corrupt_manifest_and_a_forged_signature_are_reported(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    first, second = sorted((root / "recordings").iterdir())
    (first / "manifest.json").write_text('{"entries": [')
    manifest = json.loads((second / "manifest.json").read_text())
    manifest["reason"] = "nothing happened"          # an edit after signing
    (second / "manifest.json").write_text(json.dumps(manifest))
    code, out = run_verify(root, pub, capsys)
    assert code == 1
    assert "manifest unreadable or corrupt" in out
    assert f"recording {second.name}: signature INVALID" in out


def test_another_dogs_key_does_not_verify(evidence, tmp_path, capsys):
    root = evidence.root
    other = tmp_path / "other.pub"
    other.write_bytes(signing.public_pem(signing.new_key().public_key()))
    code, out = run_verify(root, other, capsys)
    assert code == 1 and out.count("signature INVALID") == 2


def test_an_edited_audit_line_is_reported(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    lines = (root / "audit.log").read_text().splitlines()
    entry = json.loads(lines[1])
    entry["actor"] = "someone_else"
    lines[1] = json.dumps(entry)
    (root / "audit.log").write_text("\n".join(lines) + "\n")
    code, out = run_verify(root, pub, capsys)
    assert code == 1 and "audit log line 2 (seq 2): altered" in out


def test_removed_audit_lines_are_reported(evidence, capsys):
    root, pub = evidence.root, evidence.pub
    lines = (root / "audit.log").read_text().splitlines()
    (root / "audit.log").write_text("\n".join(lines[:1]) + "\n")
    code, out = run_verify(root, pub, capsys)
    assert code == 1 and "named by a signed manifest is gone" in out


def test_an_exported_case_verifies_with_the_stations_key(evidence, tmp_path, capsys):
    root, pub = evidence.root, evidence.pub
    case = tmp_path / "case-0042.tar"
    wanted = first_recording(root).name
    assert cli.main(["export", str(root), "--out", str(case), "--recording", wanted,
                     "--actor", "inspector_li", "--reason", "case 0042"]) == 0
    capsys.readouterr()
    with tarfile.open(case) as tar:
        names = tar.getnames()
    assert "case-0042/README.txt" in names and "case-0042/evidence.pub" in names
    assert "case-0042/audit.log" in names and f"case-0042/recordings/{wanted}/manifest.json" in names
    assert not any("recordings/" in n and wanted not in n for n in names)
    code, out = run_verify(case, pub, capsys)
    assert code == 0, out
    audit = [json.loads(line) for line in (root / "audit.log").read_text().splitlines()]
    assert (audit[-1]["actor"], audit[-1]["action"], audit[-1]["recording"]) == ("inspector_li", "exported", wanted)
    # Unpacked, it verifies the same way, and a flipped byte inside is still found.
    with tarfile.open(case) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked" / "case-0042"
    segment = sorted(unpacked.glob("recordings/*/*.mp4"))[0]
    data = bytearray(segment.read_bytes())
    data[100] ^= 0xFF
    segment.write_bytes(bytes(data))
    code, out = run_verify(unpacked, pub, capsys)
    assert code == 1 and f"{segment.name}: ALTERED (segment 1): bytes 0-" in out


def test_verify_usage_errors(tmp_path, capsys):
    assert cli.main(["verify", str(tmp_path / "nothing")]) == 2
    assert cli.main(["verify", str(tmp_path)]) == 1
    assert "neither an evidence directory nor a recording" in capsys.readouterr().out
