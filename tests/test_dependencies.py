"""The locked environment: requirements.lock is made from today's requirements.txt, pins every
package with hashes, is what this environment runs, and its Playwright drives Debian's Chromium."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from importlib import metadata
from pathlib import Path

import pytest

from tests.fixtures.browser import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _name(requirement: str) -> str:
    """`psycopg[binary]>=3  # why` -> `psycopg` (normalised as pip compares names)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;#]", requirement.strip(), maxsplit=1)[0]).lower()


def _locked() -> dict[str, str]:
    out = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            out[_name(match.group(1))] = match.group(2)
    return out


def test_the_lock_is_made_from_this_requirements_txt():
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    assert f"# requirements.txt sha256: {digest}" in LOCK.read_text().splitlines(), \
        "requirements.txt changed after requirements.lock was made: run ./dev.sh lock"


def test_every_direct_dependency_is_pinned_with_hashes():
    locked = _locked()
    direct = [_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    assert direct and not [n for n in direct if n not in locked]
    # Each pinned package carries at least one sha256 (pip then installs with --require-hashes).
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    unhashed = [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
    assert not unhashed


def test_this_environment_runs_the_locked_versions():
    wrong = {}
    for name, version in _locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed (run ./dev.sh setup): {wrong}"


@pytest.mark.slow
def test_the_pinned_playwright_drives_debians_chromium_of_its_generation():
    """Playwright speaks the DevTools protocol of one Chromium generation (its browsers.json);
    Debian's chromium must be that major version, or the viewer tests drive a browser the
    protocol client was not made for."""
    from playwright.sync_api import sync_playwright
    import playwright

    expected = json.loads((Path(playwright.__file__).parent / "driver/package/browsers.json")
                          .read_text())
    made_for = next(b["browserVersion"] for b in expected["browsers"] if b["name"] == "chromium")
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content("<p id=v>ok</p>")
            assert page.inner_text("#v") == "ok"
            running = browser.version
        finally:
            browser.close()
    assert running.split(".")[0] == made_for.split(".")[0], (
        f"Debian chromium {running}, Playwright {metadata.version('playwright')} is made for "
        f"{made_for}: pin the playwright release of this chromium in requirements.txt")
