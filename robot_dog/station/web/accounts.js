// The console's account administration (admins) and handheld pairing (operators and up), over
// the station's JSON API: GET/POST /api/accounts[/role|/password|/disable|/enable|
// /logout-everywhere], GET /api/pairings, POST /api/dogs/{dog}/handheld/pair and the verb
// revoke_handheld. A one-time password or pairing code is shown once, in this page only, and
// forgotten when the panel is redrawn. Names (王警官, <b>) are always text, never markup; what the
// role may not do, the station refuses anyway.
import {json} from "./answers.js";
import {h} from "./dom.js";
import {clock, t} from "./i18n.js";
import {refusalWords} from "./labels.js";

const ROLES = ["viewer", "operator", "commander", "admin", "officer"];

/** A panel's one line of outcome: a one-time secret, a done or a refusal (text only). */
function say(out, text, kind) {
  out.textContent = text;
  out.dataset.kind = kind;
}

function roleSelect(value, attrs = {}) {
  return h("select", attrs, ...ROLES.map(role => {
    const option = h("option", {value: role}, t(`role_${role}`, {}, role));
    if (role === value) option.selected = true;
    return option;
  }));
}

export class AccountsPanel {
  /** `post(path, body)`: a POST with the session's CSRF token. */
  constructor({post}) {
    this.post = post;
    this.box = h("section", {class: "accounts"});
  }

  element() { return this.box; }

  say(text, kind) { say(this.box.querySelector(".account-result"), text, kind); }

  async show() {
    const name = h("input", {type: "text", class: "new-name", maxlength: "64", placeholder: t("account_name"), required: ""});
    const role = roleSelect("operator", {class: "new-role"});
    const password = h("input", {type: "password", class: "new-password", autocomplete: "new-password", placeholder: t("account_password_optional")});
    const form = h("form", {class: "account-add", onsubmit: async event => {
      event.preventDefault();
      const body = {name: name.value.trim(), role: role.value};
      if (password.value) body.password = password.value;
      password.value = "";
      await this.act("/api/accounts", body, made => made.password
        ? t("account_added_password", {name: made.name, password: made.password})
        : t("account_added", {name: made.name}));
      name.value = "";
    }}, name, role, password, h("button", {type: "submit", class: "add"}, t("account_add")));
    this.box.replaceChildren(h("h3", {}, t("accounts")), form, h("output", {class: "account-result", role: "status"}),
                             h("table", {class: "account-list"}, h("tbody")));
    await this.list();
  }

  /** One change: POST, say what happened (`done(answer)` words it), redraw the list. */
  async act(path, body, done) {
    try {
      const answer = await json(await this.post(path, body));
      await this.list();
      this.say(done(answer), "done");
    } catch (err) {
      this.say(err.code === "last_admin" ? t("account_last_admin", {name: body.name}) : refusalWords(err), "refused");
    }
  }

  async list() {
    const tbody = this.box.querySelector(".account-list tbody");
    let accounts;
    try { ({accounts} = await json(await fetch("/api/accounts", {cache: "no-store"}))); }
    catch (err) { tbody.replaceChildren(h("tr", {}, h("td", {}, refusalWords(err)))); return; }
    tbody.replaceChildren(...accounts.map(a => this.row(a)));
  }

  row(account) {
    const name = account.name;
    const role = roleSelect(account.role, {class: "role", "aria-label": t("account_role")});
    const button = (cls, label, onclick) => h("button", {type: "button", class: cls, onclick}, t(label));
    const row = h("tr", {"data-account": name, class: account.disabled ? "disabled" : ""},
      h("td", {class: "name"}, name),
      h("td", {}, role, button("set-role", "account_set_role", () =>
        this.act("/api/accounts/role", {name, role: role.value}, () => t("account_role_set", {name, role: t(`role_${role.value}`, {}, role.value)})))),
      h("td", {class: "state"}, t(account.disabled ? "account_disabled" : "account_enabled"),
        account.password ? "" : ` · ${t("account_tokens_only")}`),
      h("td", {class: "since"}, clock(account.created_at)),
      h("td", {class: "actions"},
        button("reset-password", "account_reset_password", () =>
          this.act("/api/accounts/password", {name}, made => t("account_password_reset", {name, password: made.password}))),
        account.disabled
          ? button("enable", "account_enable", () => this.act("/api/accounts/enable", {name}, () => t("account_now_enabled", {name})))
          : button("disable", "account_disable", () => this.act("/api/accounts/disable", {name}, () => t("account_now_disabled", {name}))),
        button("logout-everywhere", "account_logout", () =>
          this.act("/api/accounts/logout-everywhere", {name}, made => t("account_logged_out", {name, n: made.sessions})))));
    return row;
  }
}

export class PairingPanel {
  /** `post(path, body)`: a POST with the session's CSRF token. */
  constructor({post}) {
    this.post = post;
    this.box = h("section", {class: "pairing"});
  }

  element() { return this.box; }

  say(text, kind) { say(this.box.querySelector(".pairing-result"), text, kind); }

  async show() {
    const dog = h("select", {class: "pair-dog", "aria-label": t("pair_dog")});
    const officer = h("input", {type: "text", class: "pair-officer", maxlength: "64", placeholder: t("pair_officer"), required: ""});
    const form = h("form", {class: "pair-form", onsubmit: async event => {
      event.preventDefault();
      this.say(t("pair_waiting"), "pending");
      try {
        const made = await json(await this.post(`/api/dogs/${encodeURIComponent(dog.value)}/handheld/pair`, {officer: officer.value.trim()}));
        await this.list();
        this.say(t("pair_code", {dog: made.dog, officer: made.officer, code: made.pairing_code}), "done");
      } catch (err) { this.say(refusalWords(err), "refused"); }
    }}, dog, officer, h("button", {type: "submit", class: "pair"}, t("pair_issue")));
    this.box.replaceChildren(h("h3", {}, t("pairing")), form, h("output", {class: "pairing-result", role: "status"}),
                             h("ul", {class: "pairing-list"}));
    try {
      const {dogs} = await json(await fetch("/api/fleet", {cache: "no-store"}));
      dog.replaceChildren(...dogs.map(d => h("option", {value: d.dog}, d.dog)));
    } catch (err) { this.say(refusalWords(err), "refused"); }
    await this.list();
  }

  async list() {
    const list = this.box.querySelector(".pairing-list");
    try {
      const {pairings} = await json(await fetch("/api/pairings", {cache: "no-store"}));
      list.replaceChildren(...pairings.map(p => h("li", {"data-dog": p.dog, "data-officer": p.officer},
        t("pair_entry", {dog: p.dog, officer: p.officer, by: p.issued_by, time: clock(p.issued_at)}), " ",
        h("button", {type: "button", class: "revoke-handheld", onclick: () => this.revoke(p.dog)}, t("pair_revoke")))));
    } catch (err) { list.replaceChildren(h("li", {}, refusalWords(err))); }
  }

  /** A lost phone: the verb revoke_handheld; the station ends the pairing at once. */
  async revoke(dog) {
    if (!window.confirm(t("pair_revoke_confirm", {dog}))) return;
    try {
      const answer = await json(await this.post(`/api/dogs/${encodeURIComponent(dog)}/commands/revoke_handheld?wait=8`, {}));
      this.say(t("pair_revoked", {dog, state: answer.status === "done" ? answer.result.code : t("pending")}), "done");
    } catch (err) { this.say(refusalWords(err), "refused"); }
    await this.list();
  }
}
