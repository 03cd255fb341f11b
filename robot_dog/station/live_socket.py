"""WS /api/live: the console page's one live connection (station/live.py says what it pushes).

Who: the handshake needs the session cookie of a password login whose role may `watch`, and
this station's own Origin (no other site's page opens it with someone's cookie). A WebSocket
carries no X-CSRF-Token header, so the page proves it read its login answer (which no other
site can) by sending the session's CSRF token once (`auth`); only then are its `command` and
`ack` messages carried out. Each of those looks the session up again and checks the role table
for its action (a logout, an expiry or a disabled account stops it at once; e-stop and its
release are the action `estop`), and is audited like the HTTP route. The session is also looked
up every SESSION_CHECK_S: a page whose session ended is closed (code 4401). An officer's page
(roles.SCOPED_ROLES) gets only the dogs paired to the officer: the hello's fleet and alarms,
live messages and video tiles; the list is looked up again with the session. It gets no
incident and no dog's answer to a command it did not send (a dispatch names who sent the dog
where): incidents are for the pages that see every dog.

From the page (JSON text):
  {"type": "watch", "tiles": [{"id": "t1", "dog": "dog1", "camera": "bodycam", "width": 440,
                               "fps": 5}, ...]}
      `width` (device pixels) and `fps` optional: live.py
  {"type": "auth", "csrf": "..."}
  {"type": "command", "id": "c1", "dog": "dog1", "verb": "estop", "args": {...}}
  {"type": "ack", "dog": "dog1", "event_id": "evt-00000001"}    (acknowledge an alarm)
  {"type": "listen", "dog": "dog1"} / {"type": "listen", "dog": null}
      the dog's microphone (the role's `listen`) as binary audio messages from now on, or no
      more; what the dog sends depends on its `listen` window, a command
To the page: `hello` (who: name, role and the actions the role may do; the fleet, the verbs,
the newest alarms, the alarm policy's battery levels), then live.py's messages (`camera` when a dog's camera sends its first
frame: a tile to subscribe), and per command
`{"type": "command_state", "id", "dog", "verb", "state": pending|done|refused|timeout, ...}`:
done/refused from the dog's own answer (its `ok`), timeout when none came within WAIT_S;
refusals by the station carry its code (forbidden, bad_args, not_found, talk_busy,
dog_offline: any verb but the e-stop to a dog whose last status is offline...).
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from robot_dog import verbs
from robot_dog.mqtt.topics import DOG_ID, VERB
from robot_dog import alarm_policy
from robot_dog.station.accounts import ACTIONS, Principal, command_action
from robot_dog.station.accounts.roles import VERB_ACTIONS
from robot_dog.audio.devices import RATE_HZ
from robot_dog.station.live import (MAX_TILE_FPS, MAX_TILE_WIDTH, MAX_TILES, TILE_ID, Outbox, Tile,
                                    audio_message)
from robot_dog.station.talk import TalkRelay
from robot_dog.station.web_auth import HttpError, peer

if TYPE_CHECKING:
    from robot_dog.station.web import StationHttp

_LOGGER = logging.getLogger(__name__)
#: How long a command from the page waits for the dog's answer, s (above the dog's 5 s
#: service deadline, so the dog's own `timeout` answer arrives first).
WAIT_S = 8.0
#: Newest alarms a page gets on opening (older ones: GET /api/alarms).
ALARMS_ON_HELLO = 200
#: How often an open page's session is looked up again, s (a logout elsewhere, an expiry or a
#: disabled account closes the page within this).
SESSION_CHECK_S = 15.0
#: How often a listening page's microphone audio is looked for and sent, s.
MIC_PERIOD_S = 0.1
#: Close code for a page whose session ended (4000-4999: the application's own).
SESSION_ENDED = 4401
NAME = DOG_ID
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
        width, fps = tile.get("width", 0), tile.get("fps", 0)
        if type(width) is not int or not 0 <= width <= MAX_TILE_WIDTH:
            raise BadMessage(f"tiles: width a whole number of pixels, 0..{MAX_TILE_WIDTH}")
        if type(fps) not in (int, float) or not 0 <= fps <= MAX_TILE_FPS:
            raise BadMessage(f"tiles: fps a number, 0..{MAX_TILE_FPS:g}")
        out[ident] = Tile(dog, camera, width, float(fps))
    return out


class PageSocket:
    def __init__(self, station: StationHttp, websocket: WebSocket, who: Principal,
                 cookie: str) -> None:
        self.station, self.websocket, self.who, self.cookie = station, websocket, who, cookie
        self.address = peer(websocket)
        self.proven = False   # the page sent its session's CSRF token (`auth`)
        self.outbox = Outbox(station.relay, station.live.scaled)
        self._tasks: set[asyncio.Task[None]] = set()
        self._listening: asyncio.Task[None] | None = None

    async def run(self) -> None:
        station = self.station
        station.live.outboxes.add(self.outbox)  # first: nothing pushed from now on is missed
        sender: asyncio.Task[None] | None = None
        checker: asyncio.Task[None] | None = None
        try:
            await self._scope(self.who)
            fleet, alarms = await asyncio.to_thread(
                lambda: (station.fleet(), station.storage.alarms(ALARMS_ON_HELLO)))
            fleet = [d for d in fleet if self.outbox.sees(d["dog"])]
            alarms = [a for a in alarms if self.outbox.sees(a.get("dog"))]
            self.outbox.put_first({
                "type": "hello", "name": self.who.name, "role": self.who.role,
                "actions": sorted(a for a, roles in ACTIONS.items() if self.who.role in roles),
                "verb_actions": VERB_ACTIONS,   # verbs that are an action of their own
                "commands": station.dispatcher is not None, "fleet": fleet,
                "verbs": verbs.catalog(verbs.STATION), "alarms": alarms,
                "evidence": station.evidence is not None, "talk": station.talk is not None,
                "degraded_after_s": station.degraded_after_s,
                "battery_levels": alarm_policy.battery_levels()})
            sender = asyncio.create_task(self._send_loop())  # the hello goes first
            checker = asyncio.create_task(self._check_session())
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
            for task in (sender, checker, self._listening, *self._tasks):
                if task is not None:
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

    async def _scope(self, who: Principal) -> None:
        """What this page may be sent: an officer's dogs (None: every dog) and, for such a page,
        only the answers to its own commands (live.Outbox)."""
        dogs = await anyio.to_thread.run_sync(self.station.accounts.visible_dogs, who)
        self.outbox.dogs, self.outbox.issuer = dogs, (who.name if dogs is not None else None)

    async def _check_session(self) -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK_S)
            try:
                who = await anyio.to_thread.run_sync(
                    partial(self.station.auth.still, self.cookie, "watch", "", self.address,
                            filtered=True))
                await self._scope(who)
            except HttpError as exc:
                _LOGGER.info("live socket of %s closed: %s", self.who.name, exc.code)
                self.outbox.put({"type": "session_ended", "code": exc.code, "error": exc.detail})
                await asyncio.sleep(0.5)   # let the page read why
                await self.websocket.close(code=SESSION_ENDED)
                return

    async def _allowed(self, action: str, dog: str) -> Principal:
        """The session, looked up again and checked for `action` (HttpError otherwise), on the
        commands' own threads (an e-stop never waits behind reads)."""
        if not self.proven:
            raise HttpError(403, "send the session's CSRF token first (auth)",
                            code="csrf_refused")
        who: Principal = await anyio.to_thread.run_sync(
            self.station.auth.still, self.cookie, action, dog, self.address,
            limiter=self.station.priority_threads)
        return who

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "watch":
            self.outbox.watch(parse_tiles(message))
        elif kind == "auth":
            self.proven = self.station.auth.csrf_matches(self.cookie, message.get("csrf"))
            if self.proven:
                self.outbox.put({"type": "auth", "ok": True})
            else:
                self.outbox.put({"type": "auth", "ok": False, "code": "csrf_refused",
                                 "error": "missing or wrong CSRF token for this session"})
        elif kind == "command":
            await self._command(message)
        elif kind == "listen":
            await self._listen(message.get("dog"))
        elif kind == "ack":
            dog, event_id = message.get("dog"), message.get("event_id")
            if not (isinstance(dog, str) and NAME.fullmatch(dog) and isinstance(event_id, str)
                    and EVENT_ID.fullmatch(event_id)):
                raise BadMessage("ack: dog and event_id")
            try:
                who = await self._allowed("acknowledge", dog)
            except HttpError as exc:
                self.outbox.put({"type": "error", "error": exc.detail, "code": exc.code})
                return
            await asyncio.to_thread(self.station.acknowledge, who, dog, event_id, self.address)
        else:
            raise BadMessage(f"unknown type {str(kind)[:40]!r}")

    async def _listen(self, dog: object) -> None:
        if self._listening is not None:
            self._listening.cancel()
            self._listening = None
        if dog is None:
            return
        if not (isinstance(dog, str) and NAME.fullmatch(dog)):
            raise BadMessage("listen: dog (a name) or null")
        talk = self.station.talk
        try:
            if talk is None:
                raise HttpError(404, "two-way talk is not enabled on this station")
            await anyio.to_thread.run_sync(self.station.auth.still, self.cookie, "listen", dog,
                                           self.address)
        except HttpError as exc:
            self.outbox.put({"type": "error", "error": exc.detail, "code": exc.code})
            return
        self._listening = asyncio.create_task(self._mic(talk, dog))

    async def _mic(self, talk: TalkRelay, dog: str) -> None:
        cursor = -1   # from now on
        while True:
            cursor, pcm = talk.mic_since(dog, cursor)   # a copy under the relay's lock: quick
            if pcm:
                self.outbox.put_audio(audio_message(dog, cursor, pcm, RATE_HZ))
            await asyncio.sleep(MIC_PERIOD_S)

    async def _command(self, message: dict[str, Any]) -> None:
        ident, dog, verb, args = (message.get(k) for k in ("id", "dog", "verb", "args"))
        if not isinstance(ident, str) or not TILE.fullmatch(ident):
            raise BadMessage("command: id must be a short plain name")
        if not (isinstance(dog, str) and NAME.fullmatch(dog) and isinstance(verb, str)
                and VERB.fullmatch(verb) and isinstance(args, dict)):
            raise BadMessage("command: dog, verb (names) and args (an object)")
        state = {"type": "command_state", "id": ident, "dog": dog, "verb": verb}
        try:
            who = await self._allowed(command_action(verb), dog)
            nonce = await anyio.to_thread.run_sync(
                self.station.send_command, who, dog, verb, args, self.address,
                limiter=self.station.priority_threads)
        except HttpError as exc:
            _LOGGER.info("live command %s -> %s by %s refused: %s", verb, dog, self.who.name, exc)
            self.outbox.put({**state, "state": "refused", "code": exc.code,
                             "message": exc.detail[:300]})
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
    if host not in station.allowed_hosts:
        _LOGGER.info("live socket refused: foreign Origin %r", origin[:100])
        await websocket.close(code=1008)  # before accept: an HTTP 403 to the handshake
        return
    try:
        who, cookie = await anyio.to_thread.run_sync(station.auth.page_session, websocket)
    except HttpError as exc:
        _LOGGER.info("live socket refused: %s", exc.code)
        await websocket.close(code=1008)
        return
    await websocket.accept()
    await PageSocket(station, websocket, who, cookie).run()
