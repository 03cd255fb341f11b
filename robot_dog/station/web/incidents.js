// The console's incidents (station/incident_routes.py): the incidents page (list, filter,
// timeline, notes, close, exports), the two-click dispatch (from an alarm, or from a point
// clicked on the dog view's map: choose the dog and an officer, confirm -> the incident opened or
// joined, the dog sent, the officer given the task), the dog's goal and progress on the map, and
// the incident the dog is on beside the dog view (the dialog: dispatch_dialog.js; the goal on the
// map: goal_layer.js). Every stored change comes back on the page's
// one live socket as an `incident` message (no polling). Buttons the role may not use are
// disabled with the reason; the station refuses them anyway. Data is always set as text.
import {h} from "./dom.js";
import {clock, t} from "./i18n.js";
import {json} from "./answers.js";
import {openDispatch} from "./dispatch_dialog.js";
import {GoalLayer} from "./goal_layer.js";
import {codeLabel, refusalWords, verbLabel} from "./labels.js";

const DISPOSITIONS = ["resolved", "arrest", "false_alarm", "referred", "no_action"];

function path(id, tail = "") {
  return `/api/incidents/${encodeURIComponent(id)}${tail}`;
}

/** One line of a timeline in words (the catalogue's `inc_entry_<kind>`). */
export function entryText(e) {
  const d = e.data || {};
  const where = d.target ? (d.target.lat !== undefined ? `${d.target.lat}, ${d.target.lon}`
    : `${Number(d.target.x).toFixed(1)}, ${Number(d.target.y).toFixed(1)}`) : t("inc_route", {route: d.route || "?"});
  const status = d.status ? t(`inc_status_${d.status}`, {}, d.status) : "";
  return t(`inc_entry_${e.kind}`, {
    by: e.by, unit: e.unit, summary: d.summary || "", type: d.type ? t(`event_${d.type}`, {}, d.type) : "", message: d.message || "",
    where, dog: d.dog || "", what: d.what || "", status, text: d.text || "", reason: d.reason || "",
    state: d.state ? t(`inc_goal_${d.state}`, {}, d.state) : "",
    disposition: d.disposition ? t(`inc_disp_${d.disposition}`, {}, d.disposition) : "",
    why: d.reason === "cancelled" ? t("inc_why_cancelled") : d.reason === "dispatched" ? t("inc_why_elsewhere", {to: d.to || ""}) : "",
  }, e.kind);
}

export class IncidentDesk {
  /** `can(action)`: the role table; `post(path, body)`: a POST with the CSRF token; `dog(name)`:
   *  the console's dog (telemetry, status); `dogs()`: every dog known; `role()`: the account's
   *  role; `commandsOn()`: the station can command dogs. */
  constructor({can, post, dog, dogs, role, commandsOn}) {
    Object.assign(this, {can, post, dog, dogs, role, commandsOn});
    this.incidents = new Map();     // id -> summary (list row or live message)
    this.timelines = new Map();     // id -> entries, as far as this page holds them
    this.officers = new Map();      // dog -> officer names seen on its handheld (newest first)
    this.alarmPoints = new Map();   // "dog/event" -> {x, y}: where the dog was when it raised it
    this.sent = new Map();          // nonce -> {incident, verb}: the dog's answers shown
    this.answers = new Map();       // incident -> [words]
    this.viewDog = null;
    this.map = null;
    this.goal = null;               // the dog's goal on the dog view's map
    this.selected = null;           // the incident open on the incidents page
    this.pinned = new Map();        // dog -> the incident dispatched from this page
    this.filter = {state: "open", dog: "", officer: ""};
    this.dialog = null;
  }

  // --- what the role may do ------------------------------------------------------------------
  /** Why a change is refused here ("" when it is not): the role, or a station with no fleet. */
  reason() {
    const role = this.role() || "";     // none after a logout, while the page is redrawn
    if (!this.can("dispatch")) return t("inc_reason_role", {role: t(`role_${role}`, {}, role)});
    if (!this.commandsOn()) return t("reason_no_commands");
    return "";
  }

  guarded(button) {
    const why = this.reason();
    button.disabled = Boolean(why);
    button.title = why;
    button.dataset.reason = why;
    return button;
  }

  // --- live ------------------------------------------------------------------------------------
  onMessage(m) {
    switch (m.type) {
      case "hello": this.load().catch(e => console.warn("station:", e.message)); break;
      case "incident": this.apply(m); break;
      case "event": this.heard(m.dog, m.doc); break;
      case "result": this.answered(m.doc); break;
      case "telemetry": if (m.dog === this.viewDog) this.drawGoal(); break;
      case "missed": this.load().catch(() => {}); break;
    }
  }

  heard(dog, doc) {
    const officer = doc.data && doc.data.officer;
    if ((doc.type === "handheld" || doc.type === "officer_task") && typeof officer === "string") {
      const seen = (this.officers.get(dog) || []).filter(o => o !== officer);
      this.officers.set(dog, [officer, ...seen].slice(0, 10));
    }
    const pose = this.dog(dog).telemetry.pose;
    if (pose) this.alarmPoints.set(`${dog}/${doc.id}`, {x: pose.x, y: pose.y});
  }

  answered(doc) {
    const sent = this.sent.get(doc.nonce);
    if (!sent) return;
    const words = t("inc_answer", {verb: verbLabel(sent.verb), state: t(doc.ok ? "done" : "refused"),
                                       code: doc.code && doc.code !== "ok" ? codeLabel(doc.code) : "", message: doc.message || ""});
    this.answers.set(sent.incident, [words, ...(this.answers.get(sent.incident) || [])].slice(0, 5));
    this.render();
  }

  async load() {
    const query = new URLSearchParams({limit: "200"});
    if (this.filter.state) query.set("state", this.filter.state);
    if (this.filter.dog) query.set("dog", this.filter.dog);
    if (this.filter.officer) query.set("officer", this.filter.officer);
    const listed = (await json(await fetch(`/api/incidents?${query}`, {cache: "no-store"}))).incidents;
    this.shown = listed.map(i => i.id);
    for (const i of listed) this.incidents.set(i.id, i);
    this.render();
  }

  apply(m) {
    const id = m.incident.id;
    const known = this.incidents.get(id) || {};
    const alarm = m.incident.alarm !== undefined ? m.incident.alarm : known.alarm;
    this.incidents.set(id, {...known, ...m.incident, alarm});
    if (this.shown && !this.shown.includes(id) && m.first === 0) this.shown.unshift(id);
    const timeline = this.timelines.get(id);
    if (m.first === 0) this.timelines.set(id, [...m.entries]);
    else if (timeline && timeline.length === m.first) timeline.push(...m.entries);
    else if (timeline) { this.timelines.delete(id); this.fetchTimeline(id); }
    this.render();
  }

  async fetchTimeline(id) {
    const doc = await json(await fetch(path(id), {cache: "no-store"}));
    this.timelines.set(id, doc.timeline);
    this.incidents.set(id, {...this.incidents.get(id), ...doc, timeline: undefined});
    this.render();
  }

  timeline(id) {
    const entries = this.timelines.get(id);
    if (!entries) this.fetchTimeline(id).catch(e => console.warn("station:", e.message));
    return entries || [];
  }

  /** The open incident of an alarm, if this page knows one. */
  ofAlarm(a) {
    return [...this.incidents.values()].find(i => i.state === "open" && i.alarm
                                             && i.alarm.dog === a.dog && i.alarm.event === a.id);
  }

  /** The incident shown beside a dog: the one dispatched from here, else its newest open one. */
  ofDog(dog) {
    const pinned = this.incidents.get(this.pinned.get(dog));
    if (pinned) return pinned;
    const on = [...this.incidents.values()].filter(i => i.state === "open" && ((i.units || [])
      .some(u => u.unit === dog && u.status !== "cleared") || (i.alarm && i.alarm.dog === dog)));
    return on.sort((a, b) => b.opened_at - a.opened_at)[0];
  }

  // --- the alarm queue ------------------------------------------------------------------------
  /** What an alarm's line gets: Dispatch (first click), and its incident once there is one. */
  alarmControls(a) {
    const open = this.ofAlarm(a);
    const out = [this.guarded(h("button", {class: "dispatch", type: "button",
      onclick: () => this.openDialog({alarm: a, dog: a.dog})}, t("inc_dispatch")))];
    if (open) out.push(h("button", {class: "incident-link", type: "button", onclick: () => this.showIncident(open.id)}, open.id));
    return out;
  }

  // --- the dispatch dialog (dispatch_dialog.js) ----------------------------------------------
  openDialog(options) {
    openDispatch(this, options);
  }

  // --- the dog view: its incident beside it, its goal on the map ------------------------------
  /** The dog view opened on `dog` (null: closed); `map`: its DogMap (a click there dispatches). */
  showDog(dog, map = null) {
    this.viewDog = dog;
    this.hidePage();
    if (map && map !== this.map) {
      this.map = map;
      this.goal = new GoalLayer(map.map);
      map.map.on("click", e => {
        if (this.viewDog) this.openDialog({point: {x: e.latlng.lng, y: e.latlng.lat}, dog: this.viewDog});
      });
    }
    this.render();
  }

  drawGoal() {
    const d = this.viewDog && this.dog(this.viewDog);
    if (d) this.goal?.draw(d.telemetry, document.querySelector("#dog-goal"));
  }

  renderSide() {
    const root = document.querySelector("#dog-incident");
    if (!root || !this.viewDog) return;
    const inc = this.ofDog(this.viewDog);
    root.replaceChildren(h("h3", {}, t("inc_beside")), h("div", {id: "dog-goal", role: "status"}),
      inc ? this.detail(inc, true) : h("p", {class: "note"}, t("inc_none_for", {dog: this.viewDog})),
      this.guarded(h("button", {type: "button", class: "dispatch-here",
        onclick: () => this.openDialog({dog: this.viewDog, incident: inc?.id})}, t("inc_dispatch_dog"))));
    this.drawGoal();
  }

  // --- the incidents page ----------------------------------------------------------------------
  togglePage() {
    const page = document.querySelector("#incidents");
    if (page.hidden) this.showPage(); else this.hidePage();
  }

  showPage() {
    document.querySelector("#overview").hidden = true;
    document.querySelector("#incidents").hidden = false;
    this.load().catch(e => console.warn("station:", e.message));
  }

  hidePage() {
    const page = document.querySelector("#incidents");
    if (page && !page.hidden) {
      page.hidden = true;
      document.querySelector("#overview").hidden = Boolean(this.viewDog);
    }
  }

  showIncident(id) {
    this.selected = id;
    this.showPage();
  }

  renderPage() {
    const root = document.querySelector("#incidents");
    if (!root || root.hidden) return;
    const state = h("select", {class: "f-state"}, ...["open", "closed", ""].map(s => h("option", {value: s}, t(`inc_state_${s || "any"}`))));
    state.value = this.filter.state;
    const dog = h("input", {class: "f-dog", type: "text", maxlength: "64", placeholder: t("inc_dog"), value: this.filter.dog});
    const officer = h("input", {class: "f-officer", type: "text", maxlength: "64", placeholder: t("inc_officer"), value: this.filter.officer});
    const summary = h("input", {class: "new-summary", type: "text", maxlength: "2000", placeholder: t("inc_summary")});
    const rows = (this.shown || []).map(id => this.incidents.get(id)).filter(Boolean).map(i =>
      h("tr", {"data-incident": i.id, class: `${i.state}${i.id === this.selected ? " selected" : ""}`,
               onclick: () => { this.selected = i.id; this.render(); }},
        h("td", {}, clock(i.opened_at)), h("td", {}, i.id), h("td", {}, i.summary),
        h("td", {}, t(`inc_state_${i.state}`)),
        h("td", {}, (i.units || []).map(u => `${u.unit} (${t(`inc_status_${u.status}`, {}, u.status)})`).join(", "))));
    const chosen = this.incidents.get(this.selected);
    root.replaceChildren(h("h2", {i18n: "incidents"}),
      h("div", {class: "filter"}, state, dog, officer, h("button", {type: "button", class: "apply", onclick: () => {
        this.filter = {state: state.value, dog: dog.value.trim(), officer: officer.value.trim()};
        this.load().catch(e => console.warn("station:", e.message));
      }}, t("inc_filter")), summary, this.guarded(h("button", {type: "button", class: "open-new", onclick: async () => {
        const done = await json(await this.post("/api/incidents", {summary: summary.value})).catch(e => ({error: e}));
        if (done.incident) this.selected = done.incident.id;
        this.render();
      }}, t("inc_open")))),
      h("div", {class: "columns"},
        h("table", {class: "incident-list"}, h("tbody", {}, ...rows)),
        chosen ? this.detail(chosen, false) : h("p", {class: "note"}, rows.length ? t("inc_pick") : t("inc_none"))));
  }

  /** One incident: its state, units, timeline, the dog's answers and (for who may) note and close. */
  detail(inc, compact) {
    const root = h("section", {class: "incident", "data-incident": inc.id, "data-state": inc.state});
    root.append(h("h4", {}, h("span", {class: "id"}, inc.id), " ", h("span", {class: "state"}, t(`inc_state_${inc.state}`)),
                   inc.disposition ? h("span", {class: "disposition"}, ` · ${t(`inc_disp_${inc.disposition}`, {}, inc.disposition)}`) : ""),
                h("p", {class: "summary"}, inc.summary));
    root.append(h("ul", {class: "units"}, ...(inc.units || []).map(u => h("li", {"data-unit": u.unit, "data-status": u.status},
      `${u.unit}: ${t(`inc_status_${u.status}`, {}, u.status)}`))));
    const answers = this.answers.get(inc.id) || [];
    if (answers.length) root.append(h("ul", {class: "answers"}, ...answers.map(a => h("li", {}, a))));
    root.append(h("ol", {class: "timeline"}, ...this.timeline(inc.id).map((e, n) =>
      h("li", {"data-kind": e.kind, "data-seq": String(n)}, h("span", {class: "when"}, clock(e.at)), " ", entryText(e)))));
    const text = h("input", {class: "note-text", type: "text", maxlength: "2000", placeholder: t("inc_note")});
    const note = this.guarded(h("button", {type: "button", class: "add-note", onclick: () =>
      this.change(path(inc.id, "/notes"), {text: text.value}, root)}, t("inc_add_note")));
    root.append(h("div", {class: "note-form"}, text, note));
    if (inc.state === "open") {
      const disposition = h("select", {class: "disposition-pick"}, ...DISPOSITIONS.map(d => h("option", {value: d}, t(`inc_disp_${d}`))));
      const close = this.guarded(h("button", {type: "button", class: "close-incident", onclick: () => {
        if (window.confirm(t("inc_confirm_close", {id: inc.id, disposition: t(`inc_disp_${disposition.value}`)}))) {
          this.change(path(inc.id, "/close"), {disposition: disposition.value}, root);
        }}}, t("inc_close")));
      root.append(h("div", {class: "close-form"}, disposition, close));
      for (const u of (inc.units || []).filter(u => u.status !== "cleared" && u.kind === "dog")) {
        root.append(this.guarded(h("button", {type: "button", class: "cancel-dog", "data-dog": u.unit,
          onclick: () => this.change(path(inc.id, `/dogs/${encodeURIComponent(u.unit)}/cancel`), {}, root)}, t("inc_cancel_dog", {dog: u.unit}))));
      }
    }
    if (!compact) {
      root.append(h("p", {class: "exports"},
        h("a", {href: path(inc.id, "/export.json"), download: `${inc.id}.json`}, t("inc_export_json")), " · ",
        h("a", {href: path(inc.id, "/print?lang=en"), target: "_blank", rel: "noopener"}, t("inc_print_en")), " · ",
        h("a", {href: path(inc.id, "/print?lang=zh"), target: "_blank", rel: "noopener"}, t("inc_print_zh"))));
    }
    root.append(h("p", {class: "refusal", role: "alert"}));
    return root;
  }

  async change(url, body, root) {
    const out = root.querySelector(".refusal");
    try {
      const done = await json(await this.post(url, body));
      if (done.command) this.sent.set(done.command.nonce, {incident: done.incident.id, verb: done.command.verb});
      out.textContent = "";
    } catch (e) {
      out.textContent = t("inc_refused", {why: refusalWords(e)});
      out.dataset.code = e.code;
      out.title = e.message;
    }
  }

  render() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.renderPage();
      this.renderSide();
    });
  }
}
