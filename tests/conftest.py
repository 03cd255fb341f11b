"""Shared test setup: localhost-only discovery for every test, fixture modules from tests/fixtures/."""
from pathlib import Path

import robot_dog  # noqa: F401  (imports apply localhost-only DDS before any rclpy use)

# Each area keeps its fixtures in its own module (tests/fixtures/<area>.py).
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)
