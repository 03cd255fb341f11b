"""Every `--help` describes every option and shows its default; the top-level help, --version,
the launcher's argument order and dev.sh's help, as a user meets them."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import robot_dog
from robot_dog.cli import fleet as cli_fleet, payload as cli_payload, demo
from robot_dog.launch import cli as launch_cli
from robot_dog.launch.cli import main as launch_main
from robot_dog.station import cli as station_cli

REPO = Path(__file__).resolve().parents[1]
TALKER = REPO / "tests" / "data" / "launch" / "talker_listener.launch.yaml"


def parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Each command's parser and every sub-action's parser."""
    out = []
    for name, parser in (("fleet", cli_fleet.build_parser()), ("payload", cli_payload.build_parser()),
                         ("demo", demo.build_parser()), ("station", station_cli.build_parser()),
                         ("launch", launch_cli.build_parser())):
        out.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                out += [(f"{name} {verb}", sub) for verb, sub in action.choices.items()]
    return out


@pytest.mark.parametrize("name,parser", parsers(), ids=[n for n, _ in parsers()])
def test_every_option_is_described_and_shows_its_default(name: str, parser) -> None:
    text = " ".join(parser.format_help().split())  # unwrapped
    assert parser.description, f"{name}: no description"
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        label = "/".join(action.option_strings) or action.metavar or action.dest
        assert action.help, f"{name}: {label} has no help text"
        default = action.default
        if default is None or default is False or default == [] or not action.option_strings:
            continue
        help_text = " ".join(parser._get_formatter()._expand_help(action).split())
        assert "default" in help_text.lower(), f"{name}: {label} does not show its default"
        assert help_text in text


def test_defaults_a_user_looks_for() -> None:
    station = " ".join(station_cli.build_parser().format_help().split())
    assert "(default: 8080)" in station and "(default: var/station.db)" in station
    demo_help = " ".join(demo.build_parser().format_help().split())
    assert "(default: 8883)" in demo_help and "(0: any free port)" in demo_help
    assert "var/demo)" in demo_help


def run_cli(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "robot_dog.cli", *argv], capture_output=True,
                          text=True, timeout=120, **kwargs)


@pytest.mark.slow
def test_top_level_help_has_examples_the_launch_line_and_version() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "Examples:" in proc.stdout
    assert "robot-dog launch launch/dog.launch.yaml dog:=dog2" in proc.stdout
    assert "NAME:=VALUE" in proc.stdout and "./dev.sh run robot-dog" in proc.stdout
    version = run_cli("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"robot-dog {robot_dog.__version__}")


@pytest.mark.slow
def test_doctor_help_shows_help_instead_of_running() -> None:
    proc = run_cli("doctor", "--help")
    assert proc.returncode == 0
    assert "usage: robot-dog doctor" in proc.stdout and "[MISS]" in proc.stdout  # the legend
    assert "required component(s) missing" not in proc.stdout  # no checks ran


def test_launch_accepts_overrides_before_and_after_the_flag(capsys) -> None:
    """An override the file does not declare is refused by the launch file, not by argparse:
    proof that NAME:=VALUE was read as an override in both orders."""
    for argv in ([str(TALKER), "nope:=1", "--single-process"],
                 [str(TALKER), "--single-process", "nope:=1"]):
        assert launch_main(argv) == 2
        err = capsys.readouterr().err
        assert "nope" in err and "unrecognized arguments" not in err


def test_launch_without_a_file_asks_for_one(capsys) -> None:
    assert launch_main([]) == 2
    err = capsys.readouterr().err
    assert "give a launch file" in err and "NAME:=VALUE is required" not in err


@pytest.mark.slow
def test_dev_sh_help_and_unknown_verb() -> None:
    helped = subprocess.run([str(REPO / "dev.sh"), "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0
    assert "./dev.sh demo" in helped.stdout and "./dev.sh run CMD" in helped.stdout
    assert "#" not in helped.stdout and "set -euo" not in helped.stdout
    unknown = subprocess.run([str(REPO / "dev.sh"), "frobnicate"], capture_output=True, text=True,
                             timeout=30)
    assert unknown.returncode == 2
    assert "unknown verb 'frobnicate'" in unknown.stderr
