// The console's people panel: for admins the accounts (accounts.js), for operators and up the
// handheld pairings (accounts.js), one's own API tokens (everyone's for admins), created, shown
// once and revoked; and for commanders and admins the audit log, newest first, filtered by kind,
// account, target (a dog, an account) and time and paged back by id. Over the station's JSON
// API (GET /api/audit, /api/tokens); what the role may not see, the station refuses anyway.
import {json} from "./answers.js";
import {h} from "./dom.js";
import {clock, t} from "./i18n.js";
import {refusalWords} from "./labels.js";
import {AccountsPanel, PairingPanel} from "./accounts.js";

const AUDIT_PAGE = 50;   // audit lines a page asks for at once

export class PeoplePanel {
  /** `root()`: the section; `can(action)`: the role table; `post(path, body)`: a POST with the
   *  session's CSRF token. */
  constructor({root, can, post}) {
    Object.assign(this, {root, can, post});
    this.before = null;
    this.accounts = new AccountsPanel({post});
    this.pairing = new PairingPanel({post});
  }

  async show() {
    const root = this.root();
    root.replaceChildren(h("h2", {}, t("people")));
    const parts = [];
    if (this.can("accounts")) { root.append(this.accounts.element()); parts.push(this.accounts.show()); }
    if (this.can("pair")) { root.append(this.pairing.element()); parts.push(this.pairing.show()); }
    root.append(h("section", {class: "tokens"}));
    if (this.can("audit")) root.append(this.auditForm(), h("table", {class: "audit-log"}, h("tbody")),
                                       h("button", {type: "button", class: "older", onclick: () => this.audit(true)}, t("audit_older")));
    await Promise.all([...parts, this.tokens(), this.can("audit") ? this.audit(false) : null]);
  }

  async tokens() {
    const box = this.root().querySelector(".tokens");
    const everyone = this.can("tokens");
    const label = h("input", {type: "text", class: "label", maxlength: "64", placeholder: t("token_label")});
    const secret = h("output", {class: "secret"});
    const create = h("button", {type: "button", class: "create", onclick: async () => {
      try {
        const made = await json(await this.post("/api/tokens", {label: label.value}));
        secret.textContent = t("token_secret", {id: made.id, secret: made.token});
        await this.tokens();
        this.root().querySelector(".tokens .secret").textContent = secret.textContent;
      } catch (err) { secret.textContent = refusalWords(err); }
    }}, t("token_create"));
    box.replaceChildren(h("h3", {}, t(everyone ? "tokens_all" : "tokens_own")), label, create, secret);
    try {
      const {tokens} = await json(await fetch(`/api/tokens${everyone ? "?account=*" : ""}`, {cache: "no-store"}));
      const list = h("ul", {class: "token-list"});
      for (const token of tokens) {
        const li = h("li", {"data-token": token.id},
          `${token.id} · ${token.account} · ${token.label} · ${clock(token.created_at)}`);
        if (token.revoked_at) li.append(h("span", {class: "revoked"}, ` ${t("token_revoked")}`));
        else li.append(h("button", {type: "button", class: "revoke", onclick: async () => {
          try { await json(await this.post(`/api/tokens/${token.id}/revoke`)); } catch (err) { secret.textContent = refusalWords(err); }
          await this.tokens();
        }}, t("token_revoke")));
        list.append(li);
      }
      box.append(list);
    } catch (err) { box.append(h("p", {class: "note"}, refusalWords(err))); }
  }

  auditForm() {
    const field = (name) => h("input", {type: "text", name, maxlength: "64", placeholder: t(`audit_${name}`)});
    // local date and time in the browser; sent as s since the epoch
    const when = (name) => h("label", {}, t(`audit_${name}`), " ", h("input", {type: "datetime-local", name, step: "1"}));
    return h("form", {class: "audit-filter", onsubmit: event => { event.preventDefault(); this.audit(false); }},
             h("h3", {}, t("audit")), field("kind"), field("actor"), field("target"), when("since"), when("until"),
             h("button", {type: "submit"}, t("audit_filter")));
  }

  async audit(older) {
    const root = this.root();
    const query = new URLSearchParams({limit: String(AUDIT_PAGE)});
    for (const input of root.querySelectorAll(".audit-filter input")) {
      if (input.type === "datetime-local") {
        if (input.value) query.set(input.name, String(new Date(input.value).getTime() / 1000));
      } else if (input.value.trim()) query.set(input.name, input.value.trim());
    }
    if (older && this.before !== null) query.set("before", String(this.before));
    const body = root.querySelector(".audit-log tbody");
    if (!older) body.replaceChildren();
    try {
      const page = await json(await fetch(`/api/audit?${query}`, {cache: "no-store"}));
      for (const e of page.audit) {
        body.append(h("tr", {"data-kind": e.kind, class: e.ok ? "" : "refused"},
          h("td", {}, clock(e.at)), h("td", {}, e.kind), h("td", {}, e.actor), h("td", {}, e.target),
          h("td", {}, e.address), h("td", {}, JSON.stringify(e.detail))));
      }
      this.before = page.before;
      // a short page is the last: no Older that would answer nothing
      root.querySelector(".older").hidden = page.before === null || page.audit.length < AUDIT_PAGE;
    } catch (err) { body.append(h("tr", {}, h("td", {}, refusalWords(err)))); }
  }
}
