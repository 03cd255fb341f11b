// The console's one message catalogue (Simplified Chinese and English) and its clock format.
// Every text the page shows comes from here through t(); data (names, event text, reasons) is
// shown as text, never as HTML.

const MESSAGES = {
  en: {
    title: "Patrol station",
    name: "Name", password: "Password", login: "Log in", logout: "Log out",
    wrong_login: "Wrong name or password: not logged in.", logout_failed: "Logged out here; the station did not answer.",
    session_ended: "Session ended ({code}): log in again.", station_refused: "Refused by the station: {error}",
    role_viewer: "viewer", role_operator: "operator", role_commander: "commander", role_admin: "admin", role_officer: "officer",
    reason_live: "disabled: live connection not ready",
    people: "People, tokens and audit", token_label: "what the token is for", token_create: "New API token",
    token_secret: "API token {id}, shown this once: {secret}", tokens_own: "My API tokens", tokens_all: "API tokens (everyone's)",
    token_revoke: "Revoke", token_revoked: "revoked", audit: "Audit log", audit_kind: "kind", audit_actor: "account",
    audit_target: "dog or account", audit_filter: "Filter", audit_older: "Older",
    audit_since: "from", audit_until: "until",
    accounts: "Accounts", account_name: "account name", account_password_optional: "password (empty: a one-time one)",
    account_add: "Add account", account_added: "Account {name} added.",
    account_added_password: "Account {name} added; one-time password, shown this once: {password}",
    account_role: "role", account_set_role: "Set role", account_role_set: "{name} is now {role}.",
    account_enabled: "active", account_disabled: "disabled", account_tokens_only: "API tokens only",
    account_reset_password: "New password",
    account_password_reset: "New one-time password of {name}, shown this once: {password} (its sessions ended)",
    account_enable: "Enable", account_disable: "Disable", account_now_enabled: "{name} enabled.",
    account_now_disabled: "{name} disabled: its sessions ended, its API tokens stopped.",
    account_logout: "Log out everywhere", account_logged_out: "{n} session(s) of {name} ended.",
    account_last_admin: "{name} is the last enabled admin: make another admin first.",
    pairing: "Handheld pairing", pair_dog: "dog", pair_officer: "officer (account name)",
    pair_issue: "Issue pairing code", pair_waiting: "Asking the dog for a code…",
    pair_code: "Pairing code for {officer} on {dog}, shown this once: {code}",
    pair_entry: "{dog}: officer {officer} (code issued by {by} at {time})", pair_revoke: "Revoke (lost phone)",
    pair_revoke_confirm: "Revoke the handheld paired with {dog}? Its phone stops commanding the dog and its officer must pair again with a new code.",
    pair_revoked: "Handheld of {dog} revoked: {state}",
    listen: "Listen", talk_hold: "Talk (hold)", audio_listen: "listen: {state}", audio_talk: "talk: {state}",
    evidence: "Evidence", evidence_none: "No recordings.", evidence_off: "This station keeps no evidence.",
    evidence_export: "Export case", evidence_reason: "Reason for the export", evidence_exported: "Exported {file}",
    evidence_state_verified: "verified", evidence_state_partial: "partly verified", evidence_state_pending: "not verified yet",
    evidence_item: "{kind} {seq}: {size} kB, SHA-256 {sha}…", evidence_play: "Play", evidence_refresh: "Refresh",
    evidence_recording: "{start} – {end} · {reason} · officer {officer} · {state}", evidence_locked: "locked",
    login_hint: "Log in to see the fleet.", login_failed: "Login refused: {error}",
    language: "Language", layout: "Tiles", overview: "Overview",
    live_lost: "Live connection lost; reconnecting…",
    online: "online", degraded: "degraded", offline: "offline", unknown: "unknown",
    estopped: "E-STOP: {reason}", driver: "driving: {input}", no_driver: "nobody driving",
    battery: "battery {pct}", no_battery: "battery ?",
    no_signal: "NO SIGNAL, last frame {time}", no_signal_never: "NO SIGNAL, no frame yet",
    frame_age: "frame {age} s old",
    reason_offline: "disabled: {dog} is offline", reason_stale: "disabled: no signal from {dog}",
    reason_no_commands: "disabled: commands are off on this station",
    alarms: "Alarms", unacked: "{n} unacknowledged", ack: "Acknowledge",
    acked: "acknowledged by {by} at {time}", no_alarms: "No alarms.",
    sev_info: "info", sev_warning: "warning", sev_critical: "critical",
    commands: "Commands", payload: "Payload", map: "Map", charts: "History",
    announce: "Announcement", announce_text: "Text to announce", announce_send: "Announce",
    lang_zh: "Mandarin", lang_en: "English",
    estop: "E-STOP", release: "Release e-stop",
    confirm_release: "Release the station's e-stop on {dog}? The dog may move again when a driver commands it.",
    confirm_verb: "Send {verb} to {dog}?",
    pending: "pending", done: "done", refused: "refused", timeout: "timeout",
    cmd_state: "{verb}: {state} {detail}",
    back: "Back to the overview",
    light: "lights {v}", siren: "siren {v}", searchlight: "searchlight {v}", recording: "recording {v}",
    on: "on", off: "off", link: "link {v}",
    verb_police_light: "Police light", verb_searchlight: "Searchlight", verb_siren: "Siren",
    verb_estop: "E-STOP", verb_estop_release: "Release e-stop", verb_resume: "Resume patrol",
    verb_mode: "Mode", verb_announce: "Announce", verb_listen: "Listen in", verb_talk: "Talk",
    verb_record: "Record", verb_snapshot: "Snapshot", verb_goto: "Go to", verb_patrol: "Patrol",
    verb_return: "Return home", verb_cancel: "Cancel goal",
    chart_battery: "battery %", chart_speed: "speed m/s", chart_link: "link RTT ms",
  },
  zh: {
    title: "巡逻站",
    name: "账号", password: "密码", login: "登录", logout: "退出",
    wrong_login: "账号或密码错误，未登录。", logout_failed: "本页已退出；站点未应答。",
    session_ended: "会话已结束（{code}），请重新登录。", station_refused: "站点拒绝：{error}",
    role_viewer: "观看员", role_operator: "操作员", role_commander: "指挥员", role_admin: "管理员", role_officer: "警员",
    reason_live: "不可用：实时连接未就绪",
    people: "人员、令牌与审计", token_label: "令牌用途", token_create: "新建 API 令牌",
    token_secret: "API 令牌 {id}，仅显示这一次：{secret}", tokens_own: "我的 API 令牌", tokens_all: "API 令牌（全部）",
    token_revoke: "吊销", token_revoked: "已吊销", audit: "审计日志", audit_kind: "类型", audit_actor: "账号",
    audit_target: "机器狗或账号", audit_filter: "筛选", audit_older: "更早",
    audit_since: "起", audit_until: "止",
    accounts: "账号管理", account_name: "账号名", account_password_optional: "密码（留空则生成一次性密码）",
    account_add: "添加账号", account_added: "已添加账号 {name}。",
    account_added_password: "已添加账号 {name}；一次性密码仅显示这一次：{password}",
    account_role: "角色", account_set_role: "设置角色", account_role_set: "{name} 现为{role}。",
    account_enabled: "启用", account_disabled: "已停用", account_tokens_only: "仅 API 令牌",
    account_reset_password: "重置密码",
    account_password_reset: "{name} 的一次性新密码仅显示这一次：{password}（其会话已结束）",
    account_enable: "启用", account_disable: "停用", account_now_enabled: "已启用 {name}。",
    account_now_disabled: "已停用 {name}：其会话已结束，API 令牌已失效。",
    account_logout: "全部退出", account_logged_out: "已结束 {name} 的 {n} 个会话。",
    account_last_admin: "{name} 是最后一个启用的管理员：请先设置另一名管理员。",
    pairing: "手持终端配对", pair_dog: "机器狗", pair_officer: "警员（账号名）",
    pair_issue: "发放配对码", pair_waiting: "正在向机器狗申请配对码…",
    pair_code: "{dog} 上 {officer} 的配对码仅显示这一次：{code}",
    pair_entry: "{dog}：警员 {officer}（{by} 于 {time} 发放）", pair_revoke: "吊销（手机丢失）",
    pair_revoke_confirm: "吊销与 {dog} 配对的手持终端？该手机将无法再控制机器狗，警员须用新配对码重新配对。",
    pair_revoked: "{dog} 的手持终端已吊销：{state}",
    listen: "监听", talk_hold: "对讲（按住）", audio_listen: "监听：{state}", audio_talk: "对讲：{state}",
    evidence: "证据", evidence_none: "暂无录像。", evidence_off: "本站不保存证据。",
    evidence_export: "导出案件", evidence_reason: "导出原因", evidence_exported: "已导出 {file}",
    evidence_state_verified: "已验证", evidence_state_partial: "部分验证", evidence_state_pending: "尚未验证",
    evidence_item: "{kind} {seq}：{size} kB，SHA-256 {sha}…", evidence_play: "播放", evidence_refresh: "刷新",
    evidence_recording: "{start} – {end} · {reason} · 警员 {officer} · {state}", evidence_locked: "已锁定",
    login_hint: "登录后查看机器狗。", login_failed: "登录被拒绝：{error}",
    language: "语言", layout: "画面", overview: "总览",
    live_lost: "实时连接中断，正在重连…",
    online: "在线", degraded: "降级", offline: "离线", unknown: "未知",
    estopped: "急停：{reason}", driver: "控制方：{input}", no_driver: "无人控制",
    battery: "电量 {pct}", no_battery: "电量 ?",
    no_signal: "无信号，最后画面 {time}", no_signal_never: "无信号，尚无画面",
    frame_age: "画面延迟 {age} 秒",
    reason_offline: "不可用：{dog} 离线", reason_stale: "不可用：{dog} 无信号",
    reason_no_commands: "不可用：本站未开启命令",
    alarms: "告警", unacked: "{n} 条未确认", ack: "确认",
    acked: "{by} 于 {time} 确认", no_alarms: "暂无告警。",
    sev_info: "提示", sev_warning: "警告", sev_critical: "严重",
    commands: "命令", payload: "载荷", map: "地图", charts: "历史曲线",
    announce: "广播", announce_text: "广播内容", announce_send: "广播",
    lang_zh: "普通话", lang_en: "英语",
    estop: "急停", release: "解除急停",
    confirm_release: "解除本站对 {dog} 的急停？驾驶者下令后机器狗可能再次移动。",
    confirm_verb: "向 {dog} 发送 {verb}？",
    pending: "等待中", done: "已完成", refused: "被拒绝", timeout: "超时",
    cmd_state: "{verb}：{state} {detail}",
    back: "返回总览",
    light: "警灯 {v}", siren: "警笛 {v}", searchlight: "探照灯 {v}", recording: "录像 {v}",
    on: "开", off: "关", link: "链路 {v}",
    verb_police_light: "警灯", verb_searchlight: "探照灯", verb_siren: "警笛",
    verb_estop: "急停", verb_estop_release: "解除急停", verb_resume: "恢复巡逻",
    verb_mode: "模式", verb_announce: "广播", verb_listen: "监听", verb_talk: "对讲",
    verb_record: "录像", verb_snapshot: "抓拍", verb_goto: "前往", verb_patrol: "巡逻",
    verb_return: "返回起点", verb_cancel: "取消任务",
    chart_battery: "电量 %", chart_speed: "速度 米/秒", chart_link: "链路往返 毫秒",
  },
};

export const LANGUAGES = Object.keys(MESSAGES);
let current = "en";

/** Chinese when the browser asks for it first, else English; a choice made on the page wins. */
export function initialLanguage() {
  const chosen = localStorage.getItem("console.lang");
  if (chosen && MESSAGES[chosen]) return chosen;
  const asked = (navigator.languages || [navigator.language || "en"])[0] || "en";
  return asked.toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function setLanguage(lang) {
  current = MESSAGES[lang] ? lang : "en";
  localStorage.setItem("console.lang", current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

export function language() { return current; }

/** The message `key` with {name} filled in from `vars` (plain text, never HTML); `fallback`
 *  when the catalogue has no such message (a verb added to the registry, a new role). */
export function t(key, vars = {}, fallback = key) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? fallback;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** 24-hour hh:mm:ss of a Unix time in seconds. */
export function clock(seconds) {
  if (!Number.isFinite(seconds)) return "--:--:--";
  return new Intl.DateTimeFormat(current === "zh" ? "zh-CN" : "en-GB", {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(new Date(seconds * 1000));
}
