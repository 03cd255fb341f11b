"""WS /api/live: the console page's one live connection (station/live.py says what it pushes).

Who: the handshake needs the session cookie of a login (a viewer: watch only) and this
station's own Origin (no other site's page opens it with a viewer's cookie). A page becomes an
operator on this socket by sending the operator token once (`auth`), checked, throttled and
logged like a command's header; only then are its `command` messages sent to a dog.

From the page (JSON text):
  {"type": "watch", "tiles": [{"id": "t1", "dog": "dog1", "camera": "bodycam"}, ...]}
  {"type": "auth", "token": "...", "operator": "name"}
  {"type": "command", "id": "c1", "dog": "dog1", "verb": "estop", "args": {...}}
  {"type": "ack", "dog": "dog1", "event_id": "evt-00000001"}    (operator: acknowledge)
To the page: `hello` (who, the fleet, the verbs, the newest alarms), then live.py's messages, and per command
`{"type": "command_state", "id", "dog", "verb", "state": pending|done|refused|timeout, ...}`:
done/refused from the dog's own answer (its `ok`), timeout when none came within WAIT_S.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from robot_dog.station.dispatch import DispatchError
from robot_dog.station.live import MAX_TILES, TILE_ID, Outbox, Tile
from robot_dog.station.verbs import verb_list
from robot_dog.station.web_auth import AuthRefused

if TYPE_CHECKING:
    from robot_dog.station.web import StationHttp

_LOGGER = logging.getLogger(__name__)
#: How long a command from the page waits for the dog's answer, s (above the dog's 5 s
#: service deadline, so the dog's own `timeout` answer arrives first).
WAIT_S = 8.0
#: Newest alarms a page gets on opening (older ones: GET /api/alarms).
ALARMS_ON_HELLO = 200
NAME = re.compile(r"[a-z0-9_-]{1,32}")
VERB = re.compile(r"[a-z][a-z0-9_]{0,31}")
TILE = re.compile(TILE_ID)
EVENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class BadMessage(Exception):
    pass


def parse_tiles(message: dict[str, Any]) -> dict[str, Tile]:
    tiles = message.get("tiles")
    if not isinstance(tiles, list) or len(tiles) > MAX_TILES:
        raise BadMessage(f"tiles: a list of at most {MAX_TILES}")
    out: dict[str, Tile] = {}
    for tile in tiles:
        if not isinstance(tile, dict):
            raise BadMessage("tiles: objects with id, dog, camera")
        ident, dog, camera = tile.get("id"), tile.get("dog"), tile.get("camera")
        if not all(isinstance(v, str) for v in (ident, dog, camera)) or not (
                TILE.fullmatch(ident) and NAME.fullmatch(dog) and NAME.fullmatch(camera)):
            raise BadMessage("tiles: id, dog and camera must be plain names")
        out[ident] = Tile(dog, camera)
    return out


class PageSocket:
    def __init__(self, station: StationHttp, websocket: WebSocket, viewer: str) -> None:
        self.station, self.websocket, self.viewer = station, websocket, viewer
        self.operator: str | None = None
        self.outbox = Outbox(station.relay)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        station = self.station
        station.live.outboxes.add(self.outbox)  # first: nothing pushed from now on is missed
        sender: asyncio.Task[None] | None = None
        try:
            fleet, alarms = await asyncio.to_thread(
                lambda: (station.fleet(), station.storage.alarms(ALARMS_ON_HELLO)))
            self.outbox.put_first({
                "type": "hello", "viewer": self.viewer,
                "commands": station.dispatcher is not None, "fleet": fleet, "verbs": verb_list(),
                "alarms": alarms, "degraded_after_s": station.degraded_after_s})
            sender = asyncio.create_task(self._send_loop())  # the hello goes first
            while True:
                text = await self.websocket.receive_text()
                try:
                    message = json.loads(text)
                    if not isinstance(message, dict):
                        raise BadMessage("a JSON object")
                    await self._handle(message)
                except (ValueError, BadMessage) as exc:
                    self.outbox.put({"type": "error", "error": f"bad message: {exc}"[:300]})
        except (WebSocketDisconnect, KeyError, RuntimeError):
            pass  # the page left (a text-less message counts as leaving)
        finally:
            station.live.outboxes.discard(self.outbox)
            if sender is not None:
                sender.cancel()
            for task in self._tasks:
                task.cancel()

    async def _send_loop(self) -> None:
        try:
            while True:
                item = await self.outbox.next()
                if isinstance(item, bytes):
                    await self.websocket.send_bytes(item)
                else:
                    await self.websocket.send_text(item)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # gone: the receive side ends too

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "watch":
            self.outbox.watch(parse_tiles(message))
        elif kind == "auth":
            token, name = message.get("token"), message.get("operator", self.viewer)
            if not isinstance(token, str) or not isinstance(name, str):
                raise BadMessage("auth: token and operator strings")
            client = self.websocket.client.host if self.websocket.client else "?"
            try:
                self.operator = self.station.auth.operator_of(token, name, client)
                self.outbox.put({"type": "auth", "operator": self.operator})
            except AuthRefused as exc:
                self.outbox.put({"type": "auth", "error": str(exc), "status": int(exc.status)})
        elif kind == "command":
            self._command(message)
        elif kind == "ack":
            dog, event_id = message.get("dog"), message.get("event_id")
            if not (isinstance(dog, str) and NAME.fullmatch(dog) and isinstance(event_id, str)
                    and EVENT_ID.fullmatch(event_id)):
                raise BadMessage("ack: dog and event_id")
            if self.operator is None:
                self.outbox.put({"type": "error", "error": "watch only: log in with the "
                                 "operator token to acknowledge", "code": "not_operator"})
                return
            self.station.acknowledge(dog, event_id, self.operator)
        else:
            raise BadMessage(f"unknown type {str(kind)[:40]!r}")

    def _command(self, message: dict[str, Any]) -> None:
        ident, dog, verb, args = (message.get(k) for k in ("id", "dog", "verb", "args"))
        if not isinstance(ident, str) or not TILE.fullmatch(ident):
            raise BadMessage("command: id must be a short plain name")
        state = {"type": "command_state", "id": ident, "dog": dog, "verb": verb}
        dispatcher = self.station.dispatcher
        if self.operator is None or dispatcher is None:
            self.outbox.put({**state, "state": "refused", "code": "not_operator",
                             "message": "watch only: log in with the operator token to command"})
            return
        if not (isinstance(dog, str) and NAME.fullmatch(dog) and isinstance(verb, str)
                and VERB.fullmatch(verb) and isinstance(args, dict)):
            raise BadMessage("command: dog, verb (names) and args (an object)")
        try:
            nonce = dispatcher.send(dog, verb, args, self.operator)
        except DispatchError as exc:
            _LOGGER.info("live command %s -> %s by %s refused: %s", verb, dog, self.operator, exc)
            self.outbox.put({**state, "state": "refused", "code": HTTPStatus(exc.status).phrase
                             .lower().replace(" ", "_"), "message": str(exc)[:300]})
            return
        self.outbox.put({**state, "state": "pending", "nonce": nonce})
        task = asyncio.create_task(self._await_result(state, nonce))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _await_result(self, state: dict[str, Any], nonce: str) -> None:
        result = await self.station.result(nonce, WAIT_S)
        if result is None:
            self.outbox.put({**state, "state": "timeout", "nonce": nonce})
        else:
            self.outbox.put({**state, "state": "done" if result.get("ok") else "refused",
                             "nonce": nonce, "code": result.get("code"),
                             "message": result.get("message", "")})


async def serve_page(station: StationHttp, websocket: WebSocket) -> None:
    origin = (websocket.headers.get("Origin") or "").lower()
    host = origin.split("://", 1)[-1]
    viewer = station.auth.viewer_of(websocket.headers)
    if viewer is None or host not in station.allowed_hosts:
        _LOGGER.info("live socket refused: %s", "no login" if viewer is None
                     else f"foreign Origin {origin[:100]!r}")
        await websocket.close(code=1008)  # before accept: an HTTP 403 to the handshake
        return
    await websocket.accept()
    await PageSocket(station, websocket, viewer).run()
