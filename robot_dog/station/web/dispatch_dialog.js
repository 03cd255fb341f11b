// The two-click dispatch's second click (incidents.js opens it: Dispatch on an alarm, or a
// click on the dog view's map): the dog, the goal (the point, the patrol route or home), an
// officer, what to do and the incident (the alarm's or the dog's open one, or a new one);
// Confirm sends it all as one request (POST /api/incidents/respond) and shows a refusal's code.
import {json} from "./answers.js";
import {h} from "./dom.js";
import {clock, t} from "./i18n.js";
import {alarmText, refusalWords} from "./labels.js";

const GOALS = ["point", "patrol", "home"];   // what a dispatch sends: goto, patrol, return

/** A number as typed ("" or words: NaN, sent as null, which the station refuses by its code). */
function number(text) {
  const value = Number.parseFloat(String(text).trim());
  return Number.isFinite(value) ? value : NaN;
}

/** The second click's form: `alarm` (its dog, where that dog was) or `point` (a map click),
 *  the dog, an officer, what and the incident; Confirm sends it all in one request. */
export function openDispatch(desk, {alarm = null, point = null, dog = null, incident = null}) {
  const dialog = desk.dialog || (desk.dialog = document.body.appendChild(h("dialog", {id: "dispatch-dialog"})));
  const at = point || (alarm && desk.alarmPoints.get(`${alarm.dog}/${alarm.id}`)) || desk.dog(dog).telemetry.pose || null;
  const joined = incident || (alarm ? desk.ofAlarm(alarm)?.id : desk.ofDog(dog)?.id) || "";
  const dogs = desk.dogs().map(d => d.name);
  const field = (id, attrs = {}) => h("input", {id, type: "text", ...attrs});
  const dogSelect = h("select", {id: "dispatch-dog"}, ...dogs.map(n => h("option", {value: n}, n)));
  dogSelect.value = dog || dogs[0] || "";
  const goal = h("select", {id: "dispatch-goal"}, ...GOALS.map(g => h("option", {value: g}, t(`inc_goal_kind_${g}`))));
  const x = field("dispatch-x", {inputmode: "decimal", size: "7", value: at ? at.x.toFixed(1) : ""});
  const y = field("dispatch-y", {inputmode: "decimal", size: "7", value: at ? at.y.toFixed(1) : ""});
  const officers = h("datalist", {id: "dispatch-officers"}, ...(desk.officers.get(dogSelect.value) || []).map(o => h("option", {value: o})));
  const officer = field("dispatch-officer", {list: "dispatch-officers", maxlength: "64",
                                             value: (desk.officers.get(dogSelect.value) || [])[0] || ""});
  const what = field("dispatch-what", {maxlength: "500", value: alarm ? alarmText(alarm).slice(0, 500) : ""});
  const target = h("select", {id: "dispatch-incident"}, h("option", {value: ""}, t("inc_new")),
    ...[...desk.incidents.values()].filter(i => i.state === "open").map(i => h("option", {value: i.id}, `${i.id} ${i.summary}`.slice(0, 80))));
  target.value = joined;
  const status = h("p", {id: "dispatch-status", role: "alert"});
  goal.addEventListener("change", () => { x.disabled = y.disabled = goal.value !== "point"; });
  const confirm = desk.guarded(h("button", {id: "dispatch-confirm", type: "button", onclick: async () => {
    const body = {dog: dogSelect.value};
    if (goal.value === "point") body.target = {x: number(x.value), y: number(y.value)};
    else body.route = goal.value;
    if (officer.value.trim()) body.officer = officer.value.trim();
    if (what.value.trim()) body.what = what.value.trim();
    if (target.value) body.incident = target.value;
    else if (alarm) body.alarm = {dog: alarm.dog, event: alarm.id};
    else body.summary = what.value.trim() || t("inc_summary_point", {x: x.value, y: y.value});
    status.textContent = t("pending");
    confirm.disabled = true;
    try {
      const done = await json(await desk.post("/api/incidents/respond", body));
      const id = done.incident.id;
      for (const c of done.commands) desk.sent.set(c.nonce, {incident: id, verb: c.verb});
      desk.pinned.set(body.dog, id);
      desk.answers.set(id, [t("inc_sent", {verbs: done.commands.map(c => c.verb).join(", "), id})]);
      dialog.close();
      desk.render();
    } catch (e) {
      status.textContent = t("inc_refused", {why: refusalWords(e)});
      status.dataset.code = e.code;
      status.title = e.message;
      desk.guarded(confirm);
    }
  }}, t("inc_confirm")));
  dialog.replaceChildren(
    h("h2", {}, t("inc_dispatch_title")),
    h("p", {class: "source"}, alarm ? t("inc_from_alarm", {dog: alarm.dog, when: clock(alarm.ts), what: alarmText(alarm)})
      : t("inc_from_point", {x: x.value, y: y.value})),
    h("label", {}, t("inc_dog"), dogSelect), h("label", {}, t("inc_goal"), goal),
    h("label", {}, "x (m)", x), h("label", {}, "y (m)", y),
    h("label", {}, t("inc_officer"), officer), officers,
    h("label", {}, t("inc_what"), what), h("label", {}, t("inc_incident"), target),
    h("div", {class: "actions"}, confirm,
      h("button", {id: "dispatch-cancel", type: "button", onclick: () => dialog.close()}, t("inc_cancel"))),
    status);
  dialog.showModal();
}
