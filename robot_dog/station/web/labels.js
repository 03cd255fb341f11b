// What the console shows for the dog's own words: verb, argument and choice names from the verb
// registry (GET /api/verbs), the driving input from the telemetry's `safety.active_input`, and
// the payload devices' reported state. The names stay the dog's (data-* attributes, commands);
// only what is shown comes from the catalogue, and a name the catalogue does not know yet (a
// verb added to the registry, a new device) is shown as the dog sends it rather than hidden.
import {t} from "./i18n.js";

export const verbLabel = verb => t(`verb_${verb}`, {}, verb);
export const argLabel = arg => t(`arg_${arg}`, {}, arg);
/** A choice of an argument or a telemetry field (pattern, tone, mode, bodycam state, ...). */
export const valueLabel = (field, value) => t(`val_${field}_${value}`, {}, String(value));
export const inputLabel = input => t(`input_${input}`, {}, input);

/** Telemetry fields shown with a unit rather than as a bare number. */
const UNITS = {
  level: v => `${Math.round(v * 100)} %`,
  volume: v => `${Math.round(v * 100)} %`,
  temperature_c: v => `${v.toFixed(1)} °C`,
  pre_event_s: v => t("seconds", {v}),
  bytes_used: v => `${(v / 1e6).toFixed(1)} MB`,
  bytes_free: v => `${(v / 1e6).toFixed(1)} MB`,
  upload_backlog_bytes: v => `${(v / 1e6).toFixed(1)} MB`,
};

/** One field of a payload device's reported state, as shown. */
export function fieldValue(field, value) {
  if (typeof value === "boolean") return t(field === "on" ? (value ? "on" : "off") : (value ? "yes" : "no"));
  if (typeof value === "number" && UNITS[field]) return UNITS[field](value);
  if (typeof value === "string") return valueLabel(field, value);
  return String(value);
}

/** The payload panel's line for one device: "Police light: pattern flash, lamps on". */
export function deviceLine(device, values) {
  const fields = Object.entries(values || {}).map(([k, v]) => `${t(`field_${k}`, {}, k)} ${fieldValue(k, v)}`);
  return t("device_line", {device: t(`dev_${device}`, {}, device), fields: fields.join(t("list_sep"))});
}

/** The tile's one-line payload summary (lights, siren, searchlight, recording). */
export function payloadSummary(p) {
  const parts = [];
  if (p.police_light) parts.push(t("light", {v: p.police_light.on ? valueLabel("pattern", p.police_light.pattern) : t("off")}));
  if (p.siren) parts.push(t("siren", {v: valueLabel("tone", p.siren.tone)}));
  if (p.searchlight) parts.push(t("searchlight", {v: `${Math.round((p.searchlight.level || 0) * 100)} %`}));
  if (p.bodycam) parts.push(t("recording", {v: t(p.bodycam.recording ? "on" : "off")}));
  return parts.join(" · ");
}

/** A refusal code's words (docs/errors.md) in the page's language; a code the catalogue does
 *  not know yet (a newer dog's) is shown as the code itself. */
export const codeLabel = code => t(`code_${code}`, {}, code);

/** A refusal by the station (an HTTP answer's {code, error}) in the page's language: its code's
 *  words, or the station's own words where the catalogue has none (kept as data: `title`). */
export const refusalWords = err => err.code ? t(`code_${err.code}`, {}, err.message || err.code) : err.message;

/** The alarm queue's words for an event: its type's label, then the fact that decided its
 *  severity (robot_dog/alarm_policy.py kind_of: the sound's class, the e-stop's state, how a
 *  goal ended, ...) from the catalogue; the dog's own message only where no such fact is given
 *  (it stays on the entry as data: `title`). The station's own alarms (a dog offline or back,
 *  an event flood it sheds) are wholly the catalogue's. */
export function alarmText(a) {
  const data = a.data && typeof a.data === "object" ? a.data : {};
  if (a.origin === "station" && (a.type === "offline" || a.type === "online")) {
    const what = a.type === "online" ? t("alarm_online", {s: data.offline_s})
      : data.reason === "silent" ? t("alarm_offline_silent", {s: data.silent_s}) : t("alarm_offline_status");
    return t("alarm_what", {type: t(`event_${a.type}`), what});
  }
  if (a.origin === "station" && a.type === "shed" && typeof data.shed === "string") {
    return t("alarm_what", {type: t("event_shed"), what: t(`alarm_shed_${data.shed}`, {}, a.message || data.shed)});
  }
  const type = t(`event_${a.type}`, {}, String(a.type));
  const fact = factOf(a.type, data);
  return t("alarm_what", {type, what: fact ?? a.message ?? ""});
}

/** The deciding fact of an event of `type` in words, or null (then the dog's message shows). */
function factOf(type, data) {
  if (type === "sound" && typeof data.class === "string") return t(`sound_${data.class}`, {}, data.class);
  if (type === "estop" && typeof data.engaged === "boolean") return t(data.engaged ? "estop_engaged" : "estop_released");
  if (type === "goal" && typeof data.state === "string") return t(`inc_goal_${data.state}`, {}, data.state);
  if (type === "low_battery" && typeof data.percentage === "number") {
    return t("low_battery_at", {pct: `${Math.round(data.percentage * 100)} %`});
  }
  if (type === "handheld" && data.kind === "estop") return t("handheld_estop");
  if (type === "handheld" && typeof data.code === "string" && data.code !== "ok") {
    return t("handheld_refused", {code: codeLabel(data.code)});
  }
  return null;
}
