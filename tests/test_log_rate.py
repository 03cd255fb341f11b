"""The one rule for logging a repeated event: 1st, 10th, 100th, 1,000th, then every 10,000th."""
from robot_dog.log_rate import worth_a_line


def test_a_flood_of_25000_events_gives_six_lines() -> None:
    assert [n for n in range(1, 25_001) if worth_a_line(n)] == [1, 10, 100, 1000, 10_000, 20_000]
