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
