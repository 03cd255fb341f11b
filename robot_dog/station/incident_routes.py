"""The incidents' HTTP routes: JSON in, one IncidentService call, JSON out (the service is the
whole logic and checks the role again; docs/station_data.md, "The service").

Roles (robot_dog/station/accounts/roles.py): reads are `watch` (viewer and up), every change is
`dispatch` (commander, admin). An operator reads incidents and drives dogs (its verbs, e-stop,
`cancel` from the dog view as a plain command) but does not open, dispatch on, assign, note or
close an incident: committing a dog and an officer to a response, and saying how it ended, is
the commander's call, as a dispatcher's in a computer-aided dispatch centre.

  GET  /api/incidents                        ?state=open|closed&dog=&officer=&since=&until=&limit=
  POST /api/incidents                        {summary, alarm: {dog, event}} -> opened
  POST /api/incidents/respond                {dog, target | route, loop, officer, what, incident |
                                             alarm | summary}: the console's two-click dispatch
  GET  /api/incidents/{id}                   the incident, its units, timeline, linked evidence
  POST /api/incidents/{id}/notes             {text}
  POST /api/incidents/{id}/dogs              {dog, target: {x, y} | {lat, lon}} or {dog, route, loop}
  POST /api/incidents/{id}/dogs/{dog}/cancel the dog stops where it stands and leaves the incident
  POST /api/incidents/{id}/officers          {officer, dog, what, where}
  POST /api/incidents/{id}/close             {disposition}
  POST /api/incidents/{id}/reopen            {reason}
  GET  /api/incidents/{id}/export.json       the document (an audit line)
  GET  /api/incidents/{id}/print             ?lang=en|zh: the printable page (an audit line)

A refusal is {"error", "code"} with the status `incident_service.http_status` gives it. Every
stored change, from a route or from what a dog reported, goes to the live pages as
`{"type": "incident", "dog": null, "incident": {...}, "first": n, "entries": [...]}`
(`live_message`), to the pages that see every dog.
"""
# No `from __future__ import annotations`: FastAPI reads the routes' annotations (web.py).
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from robot_dog.mqtt.topics import DOG_ID
from robot_dog.station.incident_page import LANGUAGES
from robot_dog.station.incident_service import IncidentService, http_status
from robot_dog.station.incidents import Entry, Incident, IncidentRefused
from robot_dog.station.web_auth import HttpError

INCIDENT_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
#: route handler -> its action of the role table (merged into web.ROUTE_ACTIONS).
ROUTE_ACTIONS: dict[str, str | None] = {
    "_incidents": "watch", "_incident": "watch", "_incident_export": "watch",
    "_incident_print": "watch", "_incident_open": "dispatch", "_incident_respond": "dispatch",
    "_incident_note": "dispatch", "_incident_dispatch": "dispatch",
    "_incident_cancel": "dispatch", "_incident_assign": "dispatch",
    "_incident_close": "dispatch", "_incident_reopen": "dispatch",
}
#: The printable page: its own inline style, nothing else; never framed.
PRINT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"


def live_message(incident: Incident, entries: list[Entry]) -> dict[str, Any]:
    """What the live pages get for a stored change: the incident now and its new entries,
    `first` being the index of the first of them (a page that holds fewer reloads it)."""
    alarm = next(({"dog": e.unit, "event": e.data.get("event")} for e in incident.timeline
                  if e.kind == "alarm"), None)
    # "dog": None is about no single dog: only the pages that see every dog take it (live.py
    # Outbox.pushed); an officer's page, limited to its paired dogs, reads no incidents.
    return {"type": "incident", "dog": None,
            "incident": {"id": incident.id, "summary": incident.summary, "alarm": alarm,
                         "state": "closed" if incident.closed else "open",
                         "disposition": incident.disposition, "opened_at": incident.opened_at,
                         "entries": len(incident.timeline),
                         "units": incident.to_doc()["units"]},
            "first": len(incident.timeline) - len(entries),
            "entries": [e.to_doc() for e in entries]}


def _schema(**properties: Any) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": {
        "type": "object", "properties": properties}}}}}


_TEXT, _NAME, _FLAG = {"type": "string"}, {"type": "string", "maxLength": 64}, {"type": "boolean"}
_POINT = {"type": "object", "description": "{x, y} in the dog's odom frame (m) or {lat, lon} (degrees)",
          "properties": {"x": {"type": "number"}, "y": {"type": "number"},
                         "lat": {"type": "number"}, "lon": {"type": "number"}}}
_ALARM = {"type": "object", "properties": {"dog": _NAME, "event": _NAME}}


def add_routes(app: FastAPI, service: Callable[[], IncidentService], who: Any, path: Callable[[str], Any],
               json_body: Callable[[Request], Awaitable[Any]]) -> None:
    """The routes on `app`. `who`: the dependency type of the caller (web.build_app's Who);
    `path(pattern)`: a path parameter; `json_body`: the bounded JSON body reader."""
    IncidentId = Annotated[str, path(INCIDENT_ID)]
    Who = who

    async def body_of(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """The service call on a worker thread (it reads and writes the database at once);
        its refusal as the HTTP answer http_status gives it."""
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except IncidentRefused as exc:
                raise HttpError(http_status(exc), exc.detail, code=exc.code) from None
        return await anyio.to_thread.run_sync(run)

    @app.get("/api/incidents")
    async def _incidents(me: Who, state: str | None = None, dog: str | None = None,
                         officer: str | None = None, since: float | None = None,
                         until: float | None = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """Incidents newest first; `dog` matches a unit or the alarm's dog; [since, until] (s
        since the epoch) keeps those open at some time in it."""
        found = await call(service().list_incidents, me, state=state, dog=dog, officer=officer,
                           since=since, until=until, limit=limit)
        return {"incidents": found}

    @app.post("/api/incidents", openapi_extra=_schema(summary=_TEXT, alarm=_ALARM))
    async def _incident_open(request: Request, me: Who) -> dict[str, Any]:
        body = await body_of(request)
        result: dict[str, Any] = await call(service().open, me, body.get("summary", ""),
                                            alarm=_alarm(body.get("alarm")))
        return result

    @app.post("/api/incidents/respond", openapi_extra=_schema(
        dog=_NAME, target=_POINT, route=_NAME, loop=_FLAG, officer=_NAME, what=_TEXT,
        incident=_NAME, alarm=_ALARM, summary=_TEXT))
    async def _incident_respond(request: Request, me: Who) -> dict[str, Any]:
        """Open (or join) the incident, send the dog, give the officer the task: one request."""
        body = await body_of(request)
        result: dict[str, Any] = await call(
            service().respond, me, dog=body.get("dog"), target=body.get("target"),
            route=body.get("route"), loop=body.get("loop", True), officer=body.get("officer"),
            what=body.get("what", ""), incident=_optional_name(body.get("incident"), "incident"),
            alarm=_alarm(body.get("alarm")), summary=body.get("summary", ""))
        return result

    @app.get("/api/incidents/{incident}")
    async def _incident(incident: IncidentId, me: Who) -> dict[str, Any]:
        found: dict[str, Any] = await call(service().get, me, incident)
        return found

    @app.post("/api/incidents/{incident}/notes", openapi_extra=_schema(text=_TEXT))
    async def _incident_note(incident: IncidentId, request: Request, me: Who) -> dict[str, Any]:
        body = await body_of(request)
        result: dict[str, Any] = await call(service().note, me, incident, body.get("text"))
        return result

    @app.post("/api/incidents/{incident}/dogs", openapi_extra=_schema(
        dog=_NAME, target=_POINT, route=_NAME, loop=_FLAG))
    async def _incident_dispatch(incident: IncidentId, request: Request, me: Who) -> dict[str, Any]:
        body = await body_of(request)
        result: dict[str, Any] = await call(
            service().dispatch_dog, me, incident, body.get("dog"), target=body.get("target"),
            route=body.get("route"), loop=body.get("loop", True))
        return result

    @app.post("/api/incidents/{incident}/dogs/{dog}/cancel")
    async def _incident_cancel(incident: IncidentId, dog: Annotated[str, path(DOG_ID.pattern)],
                               me: Who) -> dict[str, Any]:
        result: dict[str, Any] = await call(service().cancel_dog, me, incident, dog)
        return result

    @app.post("/api/incidents/{incident}/officers", openapi_extra=_schema(
        officer=_NAME, dog=_NAME, what=_TEXT, where=_POINT))
    async def _incident_assign(incident: IncidentId, request: Request, me: Who) -> dict[str, Any]:
        body = await body_of(request)
        result: dict[str, Any] = await call(
            service().assign_officer, me, incident, body.get("officer"), dog=body.get("dog"),
            what=body.get("what", ""), where=body.get("where"))
        return result

    @app.post("/api/incidents/{incident}/close", openapi_extra=_schema(disposition=_NAME))
    async def _incident_close(incident: IncidentId, request: Request, me: Who) -> dict[str, Any]:
        body = await body_of(request)
        result: dict[str, Any] = await call(service().close, me, incident, body.get("disposition"))
        return result

    @app.post("/api/incidents/{incident}/reopen", openapi_extra=_schema(reason=_TEXT))
    async def _incident_reopen(incident: IncidentId, request: Request, me: Who) -> dict[str, Any]:
        body = await body_of(request)
        result: dict[str, Any] = await call(service().reopen, me, incident, body.get("reason"))
        return result

    @app.get("/api/incidents/{incident}/export.json")
    async def _incident_export(incident: IncidentId, me: Who) -> JSONResponse:
        doc = await call(service().export_json, me, incident)
        return JSONResponse(doc, headers={
            "Content-Disposition": f'attachment; filename="{incident}.json"',
            "Cache-Control": "no-store"})

    @app.get("/api/incidents/{incident}/print", response_class=Response)
    async def _incident_print(incident: IncidentId, me: Who,
                              lang: Annotated[str, Query(pattern=f"^({'|'.join(LANGUAGES)})$")] = "en"
                              ) -> Response:
        page = await call(service().export_html, me, incident, lang)
        return Response(page, media_type="text/html; charset=utf-8", headers={
            "Content-Security-Policy": PRINT_POLICY, "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


def _alarm(value: object) -> tuple[str, str] | None:
    """{dog, event} -> (dog, event); names are checked by the service."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("dog", "event")):
        raise HttpError(HTTPStatus.BAD_REQUEST, "alarm is {dog, event}", code="bad_alarm")
    return value["dog"], value["event"]


def _optional_name(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise HttpError(HTTPStatus.BAD_REQUEST, f"{what} is a name", code="bad_name")
