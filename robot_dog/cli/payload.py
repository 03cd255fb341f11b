"""`robot-dog payload`: bench tool for the payload MCU on a real or virtual port (no ROS).

    robot-dog payload --port /tmp/robot_dog_mcu status
    robot-dog payload light alternate --rate 1.5 --duration 30 --hold
    robot-dog payload searchlight 0.6 [--strobe] [--duration S]
    robot-dog payload amp on --volume 60
    robot-dog payload safe engage|release
    robot-dog payload stream --count 20 [--json]

Requests go through the same limits as the ROS node (refused, never clamped). When this process
exits its heartbeat stops, so the MCU enters its safe state (lights steady, amplifier off) within
0.5 s; `--hold` keeps the heartbeat going until Ctrl-C. Exit codes: 0 done, 1 refused or failed,
2 bad usage, 3 no MCU on the port.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from firmware_bridge import port_check
from firmware_bridge.errors import BridgeError
from firmware_bridge.host import LinkConfig
from firmware_bridge.messages import (
    ClearFaults, Fault, Message, Safe, SafeReason, SetAmplifier, Telemetry,
)
from firmware_bridge.transport import SerialLink
from robot_dog.cli import command_line
from robot_dog.payload.errors import RequestRefused, checked_duration
from robot_dog.payload.police_light import PATTERNS, PoliceLightConfig, plan_light, report_from
from robot_dog.payload.power import flag_names
from robot_dog.payload.searchlight import SearchlightConfig, SearchlightCore, plan_searchlight

DEFAULT_PORT = os.environ.get("ROBOT_DOG_MCU_PORT", "/tmp/robot_dog_mcu")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robot-dog payload", description=__doc__,
                                     formatter_class=command_line.HelpFormatter)
    parser.add_argument("--port", default=DEFAULT_PORT,
                        help="serial device, pty symlink or socket:// URL (default %(default)s; "
                             "env ROBOT_DOG_MCU_PORT)")
    parser.add_argument("--baud", type=int, default=115200, help="serial baud rate")
    parser.add_argument("--connect-timeout", type=float, default=3.0, metavar="S",
                        help="how long to wait for the MCU's handshake, s")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = sub.add_parser

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        return add(name, help=help, description=help[0].upper() + help[1:] + ".",
                   formatter_class=command_line.HelpFormatter)
    sub.add_parser = verb  # type: ignore[method-assign]

    status = sub.add_parser("status", help="print the MCU's state once")
    status.add_argument("--json", action="store_true", help="one JSON object instead of a line")

    light = sub.add_parser("light", help="set the police light bar")
    light.add_argument("pattern", choices=sorted(PATTERNS), help="flash pattern")
    light.add_argument("--rate", type=float, default=0.0,
                       help="flashes per second per head, Hz; 0 = the pattern's own")
    light.add_argument("--duration", type=float, default=0.0,
                       help="how long it stays on, s; 0 = 60 s")
    light.add_argument("--no-crowd", action="store_true",
                       help="allow more than 3 flashes/s (quad_flash)")
    light.add_argument("--hold", action="store_true", help="keep the heartbeat until Ctrl-C")

    search = sub.add_parser("searchlight", help="set the searchlight")
    search.add_argument("level", type=float, help="0..1")
    search.add_argument("--strobe", action="store_true", help="strobe instead of a steady beam")
    search.add_argument("--duration", type=float, default=0.0,
                        help="how long it stays on, s; 0 = 60 s (strobe: 10 s)")
    search.add_argument("--hold", action="store_true", help="keep the heartbeat until Ctrl-C")

    amp = sub.add_parser("amp", help="enable or disable the megaphone amplifier")
    amp.add_argument("state", choices=["on", "off"], help="amplifier on or off")
    amp.add_argument("--volume", type=int, default=50, help="volume cap, %% (0..100)")
    amp.add_argument("--duration", type=float, default=0.0,
                     help="how long it stays on, s; 0 = 60 s")
    amp.add_argument("--hold", action="store_true", help="keep the heartbeat until Ctrl-C")

    safe = sub.add_parser("safe", help="engage or release the commanded safe state")
    safe.add_argument("action", choices=["engage", "release"],
                      help="engage: lights steady, amplifier and strobe off; release: end it")

    sub.add_parser("clear-faults", help="clear the latched fault flags")

    stream = sub.add_parser("stream", help="print telemetry as it arrives")
    stream.add_argument("--count", type=int, default=0, help="stop after N frames (0: Ctrl-C)")
    stream.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def plan(args: argparse.Namespace) -> Message | None:
    """The MCU command for a setting verb (RequestRefused if it breaks a limit)."""
    if args.verb == "light":
        config = PoliceLightConfig(crowd_mode=not args.no_crowd)
        return plan_light(args.pattern, args.rate, args.duration, config).to_wire()
    if args.verb == "searchlight":
        request = plan_searchlight(args.level, args.strobe, args.duration, SearchlightConfig())
        return SearchlightCore().set(request, now=0.0)  # unknown temperature: no derating
    if args.verb == "amp":
        if not 0 <= args.volume <= 100:
            raise RequestRefused(f"volume {args.volume} % outside 0..100")
        duration = checked_duration(args.duration, 60.0, 3600.0)
        return SetAmplifier(args.state == "on", args.volume, round(duration * 1000))
    if args.verb == "safe":
        return Safe(args.action == "engage")
    if args.verb == "clear-faults":
        return ClearFaults(0xFFFF)
    return None


def describe(t: Telemetry) -> dict[str, object]:
    light = report_from(t)
    return {
        "light": f"{light.pattern} {light.rate_hz:g} Hz" if light.rate_hz else light.pattern,
        "light_left_s": round(light.remaining_s, 1),
        "searchlight": t.searchlight_level_pm / 1000, "strobe": t.searchlight_strobe,
        "searchlight_c": t.searchlight_temp_dc / 10,
        "amp": f"on cap {t.amp_volume_cap_pct}%" if t.amp_enabled else "off",
        "amp_c": t.amplifier_temp_dc / 10,
        "battery_v": t.battery_mv / 1000, "battery_a": t.battery_ma / 1000,
        "charge": t.charge_pm / 1000, "battery_c": t.battery_temp_dc / 10,
        "safe": flag_names(t.safe_reasons, SafeReason),   # unknown bits: UNKNOWN_0x.., still safe
        "faults": flag_names(t.faults, Fault),
        "rx_bad_frames": t.rx_bad_frames, "uptime_s": t.uptime_ms / 1000,
        # which boot of the MCU this is (protocol version 3; null from a version-2 MCU)
        "boot_id": f"{t.boot_id:08x}" if t.boot_id else None,
    }


def _line(t: Telemetry) -> str:
    d = describe(t)
    return (f"light {d['light']:<16} search {d['searchlight']:.2f}{' strobe' if d['strobe'] else ''}"
            f" {d['searchlight_c']:.1f}C  amp {d['amp']} {d['amp_c']:.1f}C  "
            f"batt {d['battery_v']:.2f}V {d['battery_a']:+.2f}A {d['charge']:.0%} "
            f"safe={','.join(d['safe']) or '-'} faults={','.join(d['faults']) or '-'}")


def _wait_up(link: SerialLink, timeout: float) -> bool:
    """Wait for the handshake; give up at once when the port is held by another program."""
    end = time.monotonic() + timeout
    while not link.wait_up(0.05):
        if time.monotonic() >= end or port_check.is_locked(link.last_error):
            return False
    return True


def _wait_telemetry(link: SerialLink, timeout: float) -> Telemetry | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        telemetry, age = link.telemetry()
        if telemetry is not None and age is not None and age < 0.5:
            return telemetry
        time.sleep(0.02)
    return None


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        command = plan(args)
    except RequestRefused as exc:
        print(f"refused: {exc.reason}", file=sys.stderr)
        return 1
    if port_check.missing_device(args.port):
        print(f"robot-dog payload: {args.port} does not exist: connect the MCU, or start the "
              f"virtual one ({port_check.virtual_mcu_hint(args.port)})", file=sys.stderr)
        return 3
    with SerialLink(args.port, LinkConfig(), baudrate=args.baud) as link:
        if not _wait_up(link, args.connect_timeout):
            if port_check.is_locked(link.last_error):
                print(f"robot-dog payload: {args.port} is in use by another program (while the dog "
                      "stack runs, payload_node owns it): stop that program, or use the node's "
                      "services police_light/set and searchlight/set", file=sys.stderr)
            else:
                print(f"robot-dog payload: no MCU answering on {args.port} "
                      f"({link.last_error or 'no handshake'}); is it powered and at "
                      f"--baud {args.baud}?", file=sys.stderr)
            return 3
        try:
            if command is not None:
                status = link.command(command)
                print(f"{type(command).__name__}: {status.name}")
                if getattr(args, "hold", False):
                    print("holding (heartbeat on); Ctrl-C to release", file=sys.stderr)
                    while True:
                        time.sleep(1.0)
                return 0
            if args.verb == "status":
                telemetry = _wait_telemetry(link, args.connect_timeout)
                if telemetry is None:
                    print("no telemetry from the MCU", file=sys.stderr)
                    return 3
                print(json.dumps(describe(telemetry)) if args.json else _line(telemetry))
                return 0
            return _stream(link, args)
        except BridgeError as exc:
            print(f"failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0


def _stream(link: SerialLink, args: argparse.Namespace) -> int:
    seen = 0
    last: Telemetry | None = None
    stale_since = time.monotonic()
    while args.count == 0 or seen < args.count:
        telemetry, age = link.telemetry()
        if telemetry is not None and telemetry is not last:
            last, seen, stale_since = telemetry, seen + 1, time.monotonic()
            print(json.dumps({**describe(telemetry), "age_s": round(age or 0.0, 3)})
                  if args.json else _line(telemetry), flush=True)
        elif time.monotonic() - stale_since > 2.0:
            print(f"no telemetry for {time.monotonic() - stale_since:.0f} s (link {link.state.value})",
                  file=sys.stderr, flush=True)
            stale_since = time.monotonic()
        time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
