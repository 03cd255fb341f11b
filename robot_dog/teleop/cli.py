"""`robot-dog teleop`: pairing code, the handheld page's certificate, keyboard teleop.

  robot-dog teleop pair --officer NAME [--ns /dog1]   open a new pairing code for that officer
                                                      (printed); the phone that uses it is theirs
  robot-dog teleop revoke [--ns /dog1]                void the paired handheld (a lost phone)
  robot-dog teleop cert FLEET_DIR --dog ID [--name N] certificate of the handheld page (fleet CA)
  robot-dog teleop keyboard [--ns /dog1]              drive from this terminal (developers)
  robot-dog teleop release ENDPOINT [--ns /dog1]      release that endpoint's e-stop hold
                                                      (mcu, button: on the dog, once it is clear)
  robot-dog teleop admin-release [--ns /dog1]         release every e-stop hold (on the dog only)
  robot-dog teleop resume INPUT [--ns /dog1]          let a paused autonomous input (patrol) drive
                                                      again: the officer's deliberate action
"""
from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator, Sequence
from typing import Any

from robot_dog import verbs



def _node(namespace: str):
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from robot_dog.ros import dds_env
    dds_env.apply()  # localhost-only discovery before the participant exists
    # Ctrl-C raises KeyboardInterrupt here, so the keyboard loop can send its zero on the way out.
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    return rclpy.create_node("teleop_cli", namespace=namespace)


def pair(namespace: str, officer: str, timeout_s: float = 10.0) -> int:
    """Open a pairing code issued to `officer` and print it (only here: never logged)."""
    from robot_dog_interfaces.srv import PairHandheld

    from robot_dog.person_names import check_person_name
    try:
        officer = check_person_name(officer)
    except ValueError as exc:
        print(f"robot-dog teleop pair: --officer: {exc} (bad_officer)", file=sys.stderr)
        return 1
    with _session(namespace) as node:
        reply = _ask(node, PairHandheld, "teleop/pair", timeout_s, officer=officer)
        if reply is None:
            return 1
        if not reply.accepted:
            print(f"refused: {reply.message} ({reply.code})", file=sys.stderr)
            return 1
        print(f"pairing code: {reply.pairing_code}  (officer {officer})")
        return 0


def revoke(namespace: str, timeout_s: float = 10.0) -> int:
    """Void the paired handheld's pairing (a lost phone)."""
    from std_srvs.srv import Trigger
    with _session(namespace) as node:
        reply = _ask(node, Trigger, verbs.executor_name("revoke_handheld"), timeout_s)
        if reply is None:
            return 1
        print(reply.message)
        return 0 if reply.success else 1


@contextlib.contextmanager
def _session(namespace: str) -> Iterator[Any]:
    """A node for one command; its teardown after whatever the command printed."""
    from robot_dog.ros.teardown import end_ros
    node = _node(namespace)
    try:
        yield node
    finally:
        end_ros([node])


def _ask(node: Any, srv_type: type, service: str, timeout_s: float, who: str = "teleop_node",
         **fields: Any) -> Any:
    """One call of a service on the dog: its response, or None (said on stderr)."""
    import rclpy
    client = node.create_client(srv_type, service)
    if not client.wait_for_service(timeout_sec=timeout_s):
        print(f"no {who} in {node.get_namespace()} ({service} not served)", file=sys.stderr)
        return None
    future = client.call_async(srv_type.Request(**fields))
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout_s)
    if not future.done():
        print(f"{service} did not answer", file=sys.stderr)
        return None
    return future.result()


def _call(namespace: str, srv_type: type, service: str, timeout_s: float, done: str,
          **fields: Any) -> int:
    """Call one service of the safety node; print its answer (code and message)."""
    with _session(namespace) as node:
        reply = _ask(node, srv_type, service, timeout_s, who="safety_node", **fields)
        if reply is None:
            return 1
        print(f"{done}: {reply.message}" if reply.accepted
              else f"refused: {reply.message} ({reply.code})")
        return 0 if reply.accepted else 1


def resume(namespace: str, name: str, timeout_s: float = 10.0) -> int:
    """Resume the paused autonomous input `name` as the officer on the dog (`admin`)."""
    from robot_dog_interfaces.srv import MotionResume

    from robot_dog.safety.estop import ADMIN
    return _call(namespace, MotionResume, verbs.executor_name("resume"), timeout_s, "resumed", input=name, endpoint=ADMIN)


def release(namespace: str, endpoint: str, timeout_s: float = 10.0) -> int:
    """Release `endpoint`'s e-stop hold; `admin` releases every hold (a lost handheld whose
    officer cannot pair again). Hardware holds (`mcu`, `button`) are released this way on the
    dog once the cable is back or the button is pulled out."""
    from robot_dog_interfaces.srv import EstopRelease
    return _call(namespace, EstopRelease, verbs.executor_name("estop_release"), timeout_s, "released",
                 endpoint=endpoint)


def keyboard(namespace: str) -> int:
    from geometry_msgs.msg import Twist

    from robot_dog.ros import qos
    from robot_dog.ros.teardown import end_ros
    from robot_dog.teleop.keyboard import KeyboardTeleop
    node = _node(namespace)
    pub = node.create_publisher(Twist, "teleop/keyboard/cmd_vel", qos.COMMAND)
    kb = KeyboardTeleop()
    last: tuple[float, float] | None = None

    def publish(vx: float, wz: float) -> None:
        msg = Twist()
        msg.linear.x, msg.angular.z = vx, wz
        pub.publish(msg)

    print(__import__("robot_dog.teleop.keyboard", fromlist=["x"]).__doc__.split("\n\n")[1])
    saved = termios.tcgetattr(sys.stdin)
    try:
        tty.setcbreak(sys.stdin.fileno())
        mode = termios.tcgetattr(sys.stdin)
        mode[3] &= ~termios.ISIG   # Ctrl-C arrives as a key (also without a controlling tty)
        termios.tcsetattr(sys.stdin, termios.TCSANOW, mode)
        while True:
            ready, _, _ = select.select([sys.stdin], [], [], 0.05)
            now = time.monotonic()
            if ready:
                # os.read, not sys.stdin.read: a buffered reader would hide keys from select()
                char = os.read(sys.stdin.fileno(), 1).decode(errors="replace")
                if char == "\x03":
                    break
                out = kb.key(char, now)
                if out is not None:
                    last = out
                    publish(*out)
                    print(f"\rvx {out[0]:+.2f} m/s  wz {out[1]:+.2f} rad/s  "
                          f"(speed {kb.speed:.2f}, turn {kb.turn:.2f})   ", end="", flush=True)
            zero = kb.tick(now)
            if zero is not None:
                last = zero
                publish(*zero)
            elif not ready and last not in (None, (0.0, 0.0)):
                publish(*last)   # keep the mux input live between autorepeats (~20 Hz)
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)
        publish(0.0, 0.0)   # zero on exit, as teleop_twist_keyboard
        time.sleep(0.1)     # let the last message leave before the node goes
        end_ros([node])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robot-dog teleop", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("pair", help="open a new pairing code for the handheld page, issued to "
                       "a named officer")
    p.add_argument("--officer", required=True, metavar="NAME",
                   help="the officer whose phone pairs with the code (a station account name; "
                        "any script, e.g. 王警官): their name goes into the dog's logs, its "
                        "events and the bodycam's officer field")
    p.add_argument("--ns", default="/dog1", help="the dog's namespace (default %(default)s)")
    v = sub.add_parser("revoke", help="void the paired handheld (a lost phone): its token no "
                       "longer resumes; the officer pairs again with a new code")
    v.add_argument("--ns", default="/dog1", help="the dog's namespace (default %(default)s)")
    c = sub.add_parser("cert", help="issue the handheld page's certificate from the fleet CA")
    c.add_argument("fleet_dir", help="the fleet directory (robot-dog fleet init) whose CA signs it")
    c.add_argument("--dog", required=True, metavar="ID",
                   help="the dog whose page it is (a dog of the fleet); written to "
                        "FLEET_DIR's dogs/ID/teleop.crt and teleop.key (0600)")
    c.add_argument("--name", action="append", default=[],
                   help="address or DNS name the phone uses (repeat); localhost and 127.0.0.1 always")
    k = sub.add_parser("keyboard", help="drive from this terminal")
    k.add_argument("--ns", default="/dog1")
    one = sub.add_parser("release", help="release one endpoint's e-stop hold (on the dog)")
    one.add_argument("endpoint", choices=("mcu", "button", "handheld", "station"),
                     help="whose hold: mcu (payload link lost), button (payload e-stop button), "
                          "handheld, station (also frees the boot hold of a restarted node)")
    one.add_argument("--ns", default="/dog1", help="the dog's namespace (default %(default)s)")
    r = sub.add_parser("admin-release", help="release every e-stop hold (admin, on the dog)")
    r.add_argument("--ns", default="/dog1", help="the dog's namespace (default %(default)s)")
    u = sub.add_parser("resume", help="let a paused autonomous input drive again (on the dog)")
    u.add_argument("input", help="the mux input to resume, e.g. patrol")
    u.add_argument("--ns", default="/dog1", help="the dog's namespace (default %(default)s)")
    args = parser.parse_args(argv)
    if args.action == "resume":
        return resume(args.ns, args.input)
    if args.action == "admin-release":
        from robot_dog.safety.estop import ADMIN
        return release(args.ns, ADMIN)
    if args.action == "release":
        return release(args.ns, args.endpoint)
    if args.action == "pair":
        return pair(args.ns, args.officer)
    if args.action == "revoke":
        return revoke(args.ns)
    if args.action == "cert":
        from robot_dog.fleet import FleetError
        from robot_dog.teleop.certs import issue_teleop_cert
        try:
            cert, key = issue_teleop_cert(args.fleet_dir, args.dog,
                                          ["localhost", "127.0.0.1", *args.name])
        except (FleetError, OSError) as exc:
            print(f"robot-dog teleop cert: {exc}", file=sys.stderr)
            return 1
        print(f"certificate {cert}\nkey         {key}")
        return 0
    return keyboard(args.ns)
