// The dog view's evidence browser, over the station's evidence API (docs/evidence.md): a dog's
// recordings with their verification state, each verified segment playable (the station serves
// it with HTTP range requests, so the <video> seeks) and each still shown; admins select
// recordings and export them as a case (a tar that `robot-dog evidence verify` checks; the
// export is in the audit log under the admin's name). Everything shown is data set as text.
import {json} from "./answers.js";
import {h} from "./dom.js";
import {clock, t} from "./i18n.js";
import {refusalWords} from "./labels.js";

function itemUrl(dog, recording, file) {
  return `/api/dogs/${encodeURIComponent(dog)}/evidence/${encodeURIComponent(recording)}/${encodeURIComponent(file)}`;
}

export class EvidenceBrowser {
  /** `root()`: the section to fill; `can(action)`: the role table; `post(path, body)`: a POST
   *  with the session's CSRF token. */
  constructor({root, can, post}) {
    Object.assign(this, {root, can, post});
    this.dog = null;
    this.recordings = [];
  }

  /** The recordings of `dog`; `kept`: the station keeps evidence (its `hello` says so). */
  async show(dog, kept) {
    this.dog = dog;
    const root = this.root();
    root.replaceChildren(h("h3", {}, t("evidence")));
    if (!kept) { root.append(h("p", {class: "note"}, t("evidence_off"))); return; }
    root.append(h("button", {type: "button", class: "refresh", onclick: () => this.show(dog, kept)}, t("evidence_refresh")));
    const reply = await fetch(`/api/dogs/${encodeURIComponent(dog)}/evidence`, {cache: "no-store"});
    if (this.dog !== dog) return;           // another dog was opened meanwhile
    if (reply.status === 404) { root.append(h("p", {class: "note"}, t("evidence_off"))); return; }
    if (!reply.ok) {
      root.append(h("p", {class: "note error"}, refusalWords(await json(reply).catch(err => err))));
      return;
    }
    this.recordings = (await reply.json()).recordings;
    if (!this.recordings.length) { root.append(h("p", {class: "note"}, t("evidence_none"))); return; }
    const list = h("ol", {class: "recordings"});
    for (const rec of this.recordings) list.append(this.recording(dog, rec));
    root.append(list);
    if (this.can("evidence_export")) root.append(this.exportForm(dog));
  }

  recording(dog, rec) {
    const li = h("li", {"data-recording": rec.recording, "data-state": rec.state});
    const head = h("div", {class: "head"});
    if (this.can("evidence_export")) head.append(h("input", {type: "checkbox", class: "pick", "aria-label": rec.recording}));
    head.append(h("span", {class: "what"}, t("evidence_recording", {
      start: clock(rec.started_at), end: rec.ended_at ? clock(rec.ended_at) : "…",
      reason: rec.reason, officer: rec.officer, state: t(`evidence_state_${rec.state}`, {}, rec.state)})));
    if (rec.locked) head.append(h("span", {class: "locked"}, t("evidence_locked")));
    li.append(head);
    const items = h("ul", {class: "items"});
    for (const item of rec.files) {
      const row = h("li", {"data-file": item.file, "data-state": item.state},
        h("span", {class: "item"}, t("evidence_item", {kind: item.kind, seq: item.seq,
          size: (item.size / 1000).toFixed(0), sha: item.sha256.slice(0, 12)})),
        h("span", {class: `state state-${item.state}`}, t(`evidence_state_${item.state}`, {}, item.state)));
      if (item.state === "verified") {
        row.append(h("button", {type: "button", class: "play", onclick: () => this.play(row, dog, rec.recording, item)},
                     t("evidence_play")));
      }
      items.append(row);
    }
    li.append(items);
    return li;
  }

  /** A verified item in place: a segment as a seekable <video>, a still as an <img>. */
  play(row, dog, recording, item) {
    row.querySelector(".player")?.remove();
    const url = itemUrl(dog, recording, item.file);
    const media = item.file.endsWith(".jpg")
      ? h("img", {class: "media", src: url, alt: item.file})
      : h("video", {class: "media", src: url, controls: "", preload: "metadata"});
    row.append(h("div", {class: "player"}, media));   // on a line of its own
  }

  exportForm(dog) {
    const reason = h("input", {type: "text", class: "reason", maxlength: "200", placeholder: t("evidence_reason")});
    const state = h("span", {class: "export-state", role: "status"});
    const button = h("button", {type: "button", class: "export", onclick: async () => {
      const recordings = [...this.root().querySelectorAll("li[data-recording]")]
        .filter(li => li.querySelector(".pick")?.checked).map(li => li.dataset.recording);
      if (!recordings.length) return;
      state.textContent = "…";
      const reply = await this.post(`/api/dogs/${encodeURIComponent(dog)}/evidence/export`, {recordings, reason: reason.value});
      if (!reply.ok) {
        state.textContent = t("station_refused", {error: refusalWords(await json(reply).catch(err => err))});
        return;
      }
      const file = `${dog}-case.tar`;
      const link = h("a", {href: URL.createObjectURL(await reply.blob()), download: file});
      document.body.append(link);
      link.click();
      link.remove();
      state.textContent = t("evidence_exported", {file});
      state.dataset.exported = String(recordings.length);
    }}, t("evidence_export"));
    return h("div", {class: "export-form"}, reason, button, state);
  }
}
