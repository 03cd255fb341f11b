"""Shared test setup: localhost-only discovery and a ROS domain of this run's own for every test,
fixture modules from tests/fixtures/."""
from pathlib import Path

import robot_dog  # noqa: F401  (imports apply localhost-only DDS before any rclpy use)
from tests.isolation import isolate

# Before any participant exists: this run's own ROS domain (children inherit it).
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
