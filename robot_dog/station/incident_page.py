"""One incident as a page to print (pure): the export document of the incident service in the
template `templates/incident.html`, labels in English or Chinese from `templates/incident_labels.json`.
Every value that came from a person or a dog (a summary, a note, a name) is HTML-escaped; the
page has no script and a policy that allows none."""
from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping
from importlib import resources
from string import Template
from typing import Any

LANGUAGES = ("en", "zh")

def _labels() -> dict[str, dict[str, str]]:
    text = resources.files("robot_dog.station").joinpath("templates/incident_labels.json").read_text("utf-8")
    labels: dict[str, dict[str, str]] = json.loads(text)
    return labels


def render_html(export: Mapping[str, Any], lang: str = "en") -> str:
    """The export document as a page to print: every value from the timeline is escaped."""
    labels = _labels()[lang]
    doc = export["incident"]

    def t(key: str) -> str:
        return html.escape(labels.get(key, key))

    def e(value: Any) -> str:
        return html.escape("" if value is None else str(value))

    def when(ts: Any) -> str:
        return e(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))) if isinstance(ts, (int, float)) else ""

    def what(entry: Mapping[str, Any]) -> str:
        data = {k: v for k, v in entry["data"].items() if k not in ("event", "nonce", "ts")}
        return "; ".join(f"{t('field_' + k)}: {e(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)}"
                         for k, v in data.items())

    timeline = "\n".join(
        f"<tr><td>{when(x['at'])}</td><td>{e(x['by'])}</td><td>{t('kind_' + x['kind'])}</td>"
        f"<td>{e(x['unit'])}</td><td>{what(x)}</td></tr>" for x in doc["timeline"])
    units = "\n".join(f"<tr><td>{e(u['unit'])}</td><td>{t('unit_' + u['kind'])}</td>"
                      f"<td>{t('status_' + u['status'])}</td></tr>" for u in doc["units"])
    evidence = "\n".join(
        f"<tr><td>{e(r['dog'])}</td><td>{e(r['recording'])}</td><td>{e(i['file'])}</td>"
        f"<td>{when(i['start'])}</td><td>{e(i['state'])}</td><td class=\"hash\">{e(i['sha256'])}</td></tr>"
        for r in doc["evidence"] for i in r["items"]) or f"<tr><td colspan=\"6\">{t('none')}</td></tr>"
    page = resources.files("robot_dog.station").joinpath("templates/incident.html").read_text("utf-8")
    return Template(page).substitute(
        lang="zh-CN" if lang == "zh" else "en", title=t("title"), id=e(doc["id"]),
        summary=e(doc["summary"]), state=t("state_" + doc["state"]),
        disposition=t("disposition_" + doc["disposition"]) if doc["disposition"] else "",
        opened=when(doc["opened_at"]), closed=when(doc["closed_at"]),
        exported=when(export["exported_at"]), exported_by=e(export["exported_by"]),
        timeline=timeline, units=units, evidence=evidence,
        **{f"l_{k}": t(k) for k in ("incident", "summary", "state", "disposition", "opened", "closed",
                                     "exported", "by", "timeline", "at", "who", "what", "unit",
                                     "details", "units", "kind", "status", "evidence", "dog",
                                     "recording", "file", "start", "verification", "sha256")})

