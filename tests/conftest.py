"""Shared test setup: localhost-only discovery and a ROS domain of this run's own for every test,
fixture modules from tests/fixtures/."""
from pathlib import Path

from robot_dog.ros import dds_env
from tests.isolation import isolate

# Before any participant exists: localhost-only discovery and this run's own ROS domain
# (children inherit both).
dds_env.apply()
ROS_DOMAIN = isolate()


def pytest_configure(config) -> None:
    """This run's own temporary directory, named by its claimed domain: pytest's shared
    /tmp/pytest-of-USER keeps only the newest runs, so a concurrent run could remove ours."""
    if config.option.basetemp is None:
        import tempfile
        config.option.basetemp = str(Path(tempfile.gettempdir()) / f"robot_dog_pytest-domain{ROS_DOMAIN}")


def pytest_report_header() -> str:
    return f"ROS_DOMAIN_ID={ROS_DOMAIN} (claimed for this run; see tests/isolation.py)"

# Each area keeps its fixtures in its own module (tests/fixtures/<area>.py).
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)


# ---- the fast loop: `./dev.sh test --fast` ---------------------------------------------------
# Runs the tests that start no process (cores, codecs, schemas, in-process rclpy), in well under
# a minute. A test that starts a process belongs to the full run: mark it `slow`. The marker is
# checked, not trusted: in the fast loop, starting a process fails the test with that advice.

def pytest_addoption(parser) -> None:
    parser.addoption("--fast", action="store_true",
                     help="only tests that start no process (not marked slow); a test that "
                          "starts one fails with the advice to mark it slow")


#: Fixtures that start a process (broker, database, browser, PulseAudio, ROS nodes): a test
#: that uses one is slow without saying so.
PROCESS_FIXTURES = frozenset({
    "virtual_audio", "speaker_recorder", "loud_seconds", "mosquitto", "browser_page",
    "payload_node_process", "launch_stack", "megaphone_stack", "megaphone", "postgres", "pg_bin",
    "children", "safety_chain", "start_secure_broker", "make_secure_broker", "secure_broker"})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker("slow")
    if not config.getoption("--fast"):
        return
    kept = [item for item in items if item.get_closest_marker("slow") is None]
    deselected = [item for item in items if item.get_closest_marker("slow") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """In the fast loop, starting a process (in the test or any of its fixtures) fails it."""
    if not item.config.getoption("--fast", default=False):
        yield
        return
    import subprocess

    def refuse(*_args, **_kwargs):
        pytest.fail(f"{item.nodeid} starts a process: mark it slow (pytest.mark.slow) so the "
                    "fast loop leaves it to the full run", pytrace=False)
    patched = pytest.MonkeyPatch()
    patched.setattr(subprocess.Popen, "__init__", refuse)
    try:
        yield
    finally:
        patched.undo()
