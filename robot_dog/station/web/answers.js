// A station's answer to the page's request: its JSON, or the refusal it carries as an Error with
// the station's stable `code` (labels.js refusalWords gives its words from the catalogue; the
// station's detail, English, is the message). A network failure stays fetch's own TypeError,
// which has no `code`.

/** The JSON of a station's answer, or an Error carrying its refusal `code`. */
export async function json(reply) {
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw Object.assign(new Error(body.error || `HTTP ${reply.status}`), {code: body.code || ""});
  return body;
}
