// The console: a page per hash (#overview, #requests, …), each drawn from
// the admin API. Everything from the API is written with text nodes and
// attribute values (dom.js), never parsed as HTML: model names, user
// fields and error messages come from whoever sent a request.

import { api, ApiError, storedKey, storeKey, whenUnauthorized } from "./api.js";
import { legend, sparkline, stackedBars } from "./chart.js";
import { clear, fmtInt, fmtMs, fmtTime, fmtUsd, h, on, table } from "./dom.js";

const main = document.getElementById("main");
const PAGES = {};
let leave = () => {}; // stops the current page's timers
let generation = 0; // a page drawn for an older route is thrown away

// ------------------------------------------------------------------ theme

const THEME_KEY = "tokligence.console.theme";

function applyTheme(theme) {
  if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function effectiveTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

applyTheme(localStorage.getItem(THEME_KEY));
on(document.getElementById("theme"), "click", () => {
  const next = effectiveTheme() === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});

// ------------------------------------------------------------------ sign-in

const overlay = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const loginKey = document.getElementById("login-key");
const loginError = document.getElementById("login-error");
const signout = document.getElementById("signout");

function showLogin(message) {
  overlay.hidden = false;
  loginError.textContent = message || "";
  loginKey.focus();
}

whenUnauthorized(() => {
  const had = storedKey();
  storeKey("");
  signout.hidden = true;
  showLogin(had ? "The gateway no longer accepts that key." : "");
});

on(loginForm, "submit", async (event) => {
  event.preventDefault();
  storeKey(loginKey.value.trim());
  loginError.textContent = "";
  try {
    await api("config");
  } catch (error) {
    storeKey("");
    showLogin(error.status === 403 ? "This key may not use the admin API (it needs an admin role and the admin scope)." : error.status === 401 ? "The gateway does not accept this key." : error.message);
    return;
  }
  loginKey.value = "";
  overlay.hidden = true;
  signout.hidden = false;
  route();
});

on(signout, "click", () => {
  storeKey("");
  signout.hidden = true;
  leave();
  clear(main);
  showLogin("Signed out.");
});

// ------------------------------------------------------------------ helpers

function notice(text, kind = "notice") {
  return h("p", { class: kind, role: kind === "error" ? "alert" : "status" }, text);
}

function failure(error) {
  if (error instanceof ApiError && error.status === 401) return notice("Sign in to see this page.");
  return notice(`Could not load: ${error.message}`, "error");
}

function select(id, label, options, value) {
  return h(
    "label",
    { class: "control" },
    label,
    " ",
    h("select", { id }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))),
  );
}

async function people() {
  const [users, keys] = await Promise.all([api("users"), api("api-keys")]);
  return { users: users.users, keys: keys.api_keys };
}

function userLabel(users, id) {
  if (id === null || id === undefined) return "no user";
  const user = users.find((u) => u.id === id);
  return user ? user.email : `user ${id}`;
}

function keyLabel(keys, id) {
  if (id === null || id === undefined) return "no key";
  const key = keys.find((k) => k.id === id);
  return key ? `${key.name || "key " + id} (${key.prefix}…)` : `key ${id}`;
}

// ------------------------------------------------------------------ overview

const RANGES = {
  "24h": { bucket: "hour", hours: 24, text: "Last 24 hours (hourly)" },
  "7d": { bucket: "day", days: 7, text: "Last 7 days (daily)" },
  "30d": { bucket: "day", days: 30, text: "Last 30 days (daily)" },
  "90d": { bucket: "day", days: 90, text: "Last 90 days (daily)" },
};
const METRICS = {
  requests: { text: "Requests", value: (s, i) => s.requests[i], format: fmtInt },
  cost: { text: "Cost (USD)", value: (s, i) => Number(s.cost_usd[i]), format: (v) => fmtUsd(String(v)) },
  input_tokens: { text: "Input tokens", value: (s, i) => s.input_tokens[i], format: fmtInt },
  output_tokens: { text: "Output tokens", value: (s, i) => s.output_tokens[i], format: fmtInt },
  errors: { text: "Errors", value: (s, i) => s.errors[i], format: fmtInt },
};
const BY = { model: "Model", provider: "Provider", user: "User", key: "API key" };
const overviewState = { range: "7d", metric: "requests", by: "model" };

function sinceFor(range) {
  const now = new Date();
  if (range.hours) return new Date(now.getTime() - range.hours * 3600e3);
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  return new Date(start.getTime() - (range.days - 1) * 86400e3);
}

function bucketLabel(iso, bucket) {
  return bucket === "hour" ? iso.slice(5, 13).replace("T", " ") + "h" : iso.slice(0, 10);
}

PAGES.overview = async function overview(page) {
  const state = overviewState;
  const controls = h(
    "div",
    { class: "controls" },
    select("range", "Period", Object.entries(RANGES).map(([k, r]) => [k, r.text]), state.range),
    select("by", "By", Object.entries(BY), state.by),
    select("metric", "Show", Object.entries(METRICS).map(([k, m]) => [k, m.text]), state.metric),
  );
  for (const name of ["range", "by", "metric"]) {
    on(controls.querySelector(`#${name}`), "change", (event) => {
      state[name] = event.target.value;
      route();
    });
  }
  page.append(h("h1", null, "Usage and cost"), controls);
  const range = RANGES[state.range];
  const wanted = [api("usage/series", { query: { bucket: range.bucket, by: state.by, since: sinceFor(range).toISOString() } })];
  if (state.by === "user" || state.by === "key") wanted.push(people());
  const [data, who] = await Promise.all(wanted);
  const label = (series) => {
    if (series.other) return "other";
    if (state.by === "user") return userLabel(who.users, series.key);
    if (state.by === "key") return keyLabel(who.keys, series.key);
    return series.key === null ? "(none)" : String(series.key);
  };
  const metric = METRICS[state.metric];
  const buckets = data.buckets.map((b) => bucketLabel(b, data.bucket));
  const series = data.series.map((one, index) => ({
    label: label(one),
    colour: one.other ? 10 : index,
    values: data.buckets.map((_, i) => metric.value(one, i)),
    raw: one,
  }));
  const sum = (field) => data.series.reduce((total, one) => total + one[field].reduce((a, b) => a + Number(b), 0), 0);
  page.append(
    h(
      "div",
      { class: "cards" },
      [
        ["Requests", fmtInt(sum("requests")), "total-requests"],
        ["Errors", fmtInt(sum("errors")), "total-errors"],
        ["Input tokens", fmtInt(sum("input_tokens")), "total-input"],
        ["Output tokens", fmtInt(sum("output_tokens")), "total-output"],
        ["Cost", fmtUsd(String(sum("cost_usd"))), "total-cost"],
      ].map(([name, value, id]) => h("div", { class: "card stat" }, h("div", { class: "muted" }, name), h("div", { class: "big", id }, value))),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", null, `${metric.text} by ${BY[state.by].toLowerCase()}`),
      stackedBars({ title: `${metric.text} by ${BY[state.by].toLowerCase()}`, buckets, series, format: metric.format }),
      legend(series, metric.format),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", null, `Totals by ${BY[state.by].toLowerCase()}`),
      table(
        [BY[state.by], { label: "Requests", num: true }, { label: "Errors", num: true }, { label: "Input tokens", num: true }, { label: "Output tokens", num: true }, { label: "Cost", num: true }],
        series.map((one) => {
          const total = (field) => one.raw[field].reduce((a, b) => a + Number(b), 0);
          return h(
            "tr",
            { "data-key": one.label },
            h("td", null, h("span", { class: `swatch c${one.colour}`, "aria-hidden": "true" }), " ", one.label),
            h("td", { class: "num", "data-field": "requests" }, fmtInt(total("requests"))),
            h("td", { class: "num", "data-field": "errors" }, fmtInt(total("errors"))),
            h("td", { class: "num", "data-field": "input_tokens" }, fmtInt(total("input_tokens"))),
            h("td", { class: "num", "data-field": "output_tokens" }, fmtInt(total("output_tokens"))),
            h("td", { class: "num", "data-field": "cost_usd" }, fmtUsd(String(total("cost_usd")))),
          );
        }),
        { id: "series-table" },
      ),
    ),
  );
};

// ------------------------------------------------------------------ requests

const PAGE_SIZE = 50;
const requestsState = { cursors: [], live: true };

function statusCell(entry) {
  const ok = entry.status < 400;
  return h("td", { class: ok ? "ok" : "bad", title: entry.error_kind || "" }, String(entry.status), entry.error_kind ? ` ${entry.error_kind}` : "");
}

function requestRow(entry, who) {
  const model = entry.upstream_model && entry.upstream_model !== entry.requested_model ? `${entry.requested_model} → ${entry.upstream_model}` : entry.requested_model;
  return h(
    "tr",
    { "data-id": entry.id },
    h("td", { class: "nowrap" }, fmtTime(entry.created_at)),
    statusCell(entry),
    h("td", { class: "model" }, model),
    h("td", null, entry.provider),
    h("td", null, userLabel(who.users, entry.user_id)),
    h("td", { class: "nowrap" }, entry.endpoint, entry.stream ? " (stream)" : ""),
    h("td", { class: "num" }, fmtMs(entry.latency_ms)),
    h("td", { class: "num" }, fmtMs(entry.ttfb_ms)),
    h("td", { class: "num" }, fmtMs(entry.gateway_ms)),
    h("td", { class: "num" }, fmtMs(entry.upstream_ms)),
    h("td", { class: "num" }, fmtInt(entry.input_tokens)),
    h("td", { class: "num" }, fmtInt(entry.output_tokens)),
    h("td", { class: "num" }, entry.cost_usd === null ? "unpriced" : fmtUsd(entry.cost_usd)),
  );
}

PAGES.requests = async function requests(page, alive) {
  const state = requestsState;
  const before = state.cursors[state.cursors.length - 1];
  const liveBox = h("input", { type: "checkbox", id: "live", checked: state.live && !before, disabled: Boolean(before) });
  const newer = h("button", { type: "button", id: "newer", disabled: !before }, "← Newer");
  const older = h("button", { type: "button", id: "older" }, "Older →");
  const latest = h("button", { type: "button", id: "latest", class: "ghost", disabled: !before }, "Latest");
  const status = h("span", { class: "muted", id: "requests-status", role: "status" });
  page.append(
    h("h1", null, "Requests"),
    h("div", { class: "controls" }, h("label", { class: "control" }, liveBox, " Live (every 3 s)"), latest, newer, older, status),
  );
  const holder = h("div");
  page.append(holder);
  const who = await people().catch(() => ({ users: [], keys: [] }));
  let last = null;
  const draw = async () => {
    const data = await api("usage/recent", { query: { limit: PAGE_SIZE, before_id: before } });
    if (!alive()) return;
    last = data.entries;
    clear(holder).append(
      last.length
        ? table(
            ["Time", "Status", "Model", "Provider", "User", "Endpoint", { label: "Latency ms", num: true }, { label: "TTFB ms", num: true }, { label: "Gateway ms", num: true }, { label: "Upstream ms", num: true }, { label: "In", num: true }, { label: "Out", num: true }, { label: "Cost", num: true }],
            last.map((entry) => requestRow(entry, who)),
            { id: "requests-table" },
          )
        : notice(before ? "No older requests." : "No requests yet."),
    );
    older.disabled = last.length < PAGE_SIZE;
    status.textContent = before ? `Before request ${before}` : `Updated ${fmtTime(new Date().toISOString())}`;
  };
  on(liveBox, "change", () => {
    state.live = liveBox.checked;
  });
  on(older, "click", () => {
    if (!last || !last.length) return;
    state.cursors.push(last[last.length - 1].id);
    route();
  });
  on(newer, "click", () => {
    state.cursors.pop();
    route();
  });
  on(latest, "click", () => {
    state.cursors = [];
    route();
  });
  await draw();
  if (!before) {
    const timer = setInterval(() => {
      if (state.live && !document.hidden) draw().catch((error) => clear(holder).append(failure(error)));
    }, 3000);
    return () => clearInterval(timer);
  }
  return undefined;
};

// ------------------------------------------------------------------ providers

function healthCells(figures) {
  return [
    h("td", { class: "num" }, fmtInt(figures.requests)),
    h("td", { class: "num" }, fmtInt(figures.errors)),
    h("td", { class: "num" }, fmtInt(figures.timeouts)),
    h("td", { class: "num" }, fmtMs(figures.ttfb_ms)),
    h("td", { class: "num" }, figures.output_tokens_per_s === null || figures.output_tokens_per_s === undefined ? "–" : figures.output_tokens_per_s.toFixed(1)),
  ];
}

PAGES.providers = async function providers(page) {
  page.append(h("h1", null, "Provider health"));
  let data;
  try {
    data = await api("audit/health");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      page.append(notice("The provider audit is not available on this gateway (it has no /api/v1/admin/audit/health)."));
      return;
    }
    throw error;
  }
  page.append(
    h("p", { class: "muted" }, `Window ${fmtTime(data.window.since)} – ${fmtTime(data.window.until)}, compared with ${fmtTime(data.baseline.since)} – ${fmtTime(data.baseline.until)}.`),
  );
  if (!data.entries.length) {
    page.append(notice("No provider traffic in this window."));
    return;
  }
  page.append(
    table(
      ["Provider", "Model", { label: "Requests", num: true }, { label: "Errors", num: true }, { label: "Timeouts", num: true }, { label: "TTFB ms", num: true }, { label: "Output tok/s", num: true }, { label: "Baseline TTFB ms", num: true }, { label: "Baseline tok/s", num: true }, "Requests over the window", "Flags"],
      data.entries.map((entry) =>
        h(
          "tr",
          { "data-provider": entry.provider },
          h("td", null, entry.provider),
          h("td", { class: "model" }, entry.model),
          healthCells(entry.window),
          h("td", { class: "num" }, fmtMs(entry.baseline.ttfb_ms)),
          h("td", { class: "num" }, entry.baseline.output_tokens_per_s === null || entry.baseline.output_tokens_per_s === undefined ? "–" : entry.baseline.output_tokens_per_s.toFixed(1)),
          h("td", null, sparkline(entry.buckets.map((b) => b.requests), `${entry.provider} ${entry.model}: requests per bucket ${entry.buckets.map((b) => b.requests).join(", ")}`)),
          h("td", null, entry.flags.length ? entry.flags.map((flag) => h("span", { class: "badge bad" }, flag)) : h("span", { class: "badge ok" }, "ok")),
        ),
      ),
      { id: "health-table" },
    ),
  );
};

// ------------------------------------------------------------------ users & keys

function keyState(key) {
  return h("span", { class: `badge ${key.state === "active" ? "ok" : "bad"}` }, key.state);
}

PAGES.users = async function users(page) {
  page.append(h("h1", null, "Users and API keys"));
  const { users: list, keys } = await people();
  const message = h("p", { id: "users-message", role: "status" });

  // -- new user
  const userForm = h(
    "form",
    { class: "card inline-form", id: "new-user", autocomplete: "off" },
    h("h2", null, "New user"),
    h("label", null, "E-mail ", h("input", { name: "email", type: "email", required: true })),
    h("label", null, "Display name ", h("input", { name: "display_name" })),
    h("label", null, "Role ", h("select", { name: "role" }, ["gateway_user", "gateway_admin"].map((r) => h("option", { value: r }, r)))),
    h("button", { type: "submit" }, "Create user"),
  );
  on(userForm, "submit", async (event) => {
    event.preventDefault();
    const form = new FormData(userForm);
    try {
      const made = await api("users", { method: "POST", body: { email: form.get("email"), display_name: form.get("display_name"), role: form.get("role") } });
      await route();
      document.getElementById("users-message").textContent = `Created user ${made.user.email}.`;
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
    }
  });

  // -- new key
  const secret = h("div", { id: "new-key-box", hidden: true, class: "secret" });
  const keyForm = h(
    "form",
    { class: "card inline-form", id: "new-key", autocomplete: "off" },
    h("h2", null, "New API key"),
    h("label", null, "User ", h("select", { name: "user" }, list.map((u) => h("option", { value: u.id }, `${u.email} (${u.role})`)))),
    h("label", null, "Name ", h("input", { name: "name" })),
    h("label", null, h("input", { type: "checkbox", name: "model", checked: true }), " model"),
    h("label", null, h("input", { type: "checkbox", name: "admin" }), " admin"),
    h("label", null, "Expires in days ", h("input", { name: "days", type: "number", min: 1, max: 36525, class: "short" })),
    h("button", { type: "submit" }, "Create key"),
    secret,
  );
  on(keyForm, "submit", async (event) => {
    event.preventDefault();
    const form = new FormData(keyForm);
    const scopes = ["model", "admin"].filter((scope) => form.get(scope));
    const body = { name: form.get("name") || "", scopes };
    if (form.get("days")) body.expires_in_days = Number(form.get("days"));
    try {
      const made = await api(`users/${Number(form.get("user"))}/api-keys`, { method: "POST", body });
      await route();
      const box = document.getElementById("new-key-box");
      box.hidden = false;
      clear(box).append(
        h("strong", null, "Copy this key now: it is shown only once."),
        h("code", { id: "new-key-value" }, made.api_key),
      );
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
    }
  });

  page.append(
    message,
    h("div", { class: "two" }, userForm, keyForm),
    h(
      "section",
      { class: "card" },
      h("h2", null, "Users"),
      table(
        [{ label: "Id", num: true }, "E-mail", "Display name", "Role", "Status", "Created"],
        list.map((u) =>
          h("tr", { "data-id": u.id }, h("td", { class: "num" }, String(u.id)), h("td", null, u.email), h("td", { class: "display-name" }, u.display_name), h("td", null, u.role), h("td", null, u.status), h("td", { class: "nowrap" }, fmtTime(u.created_at))),
        ),
        { id: "users-table" },
      ),
    ),
  );

  const revoke = (key) => {
    const button = h("button", { type: "button", class: "danger", "data-revoke": key.id }, "Revoke");
    let armed = false;
    on(button, "click", async () => {
      if (!armed) {
        armed = true;
        button.textContent = "Confirm revoke";
        setTimeout(() => {
          armed = false;
          button.textContent = "Revoke";
        }, 5000);
        return;
      }
      try {
        await api(`api-keys/${key.id}`, { method: "DELETE" });
        await route();
        document.getElementById("users-message").textContent = `Revoked key ${key.prefix}…`;
      } catch (error) {
        message.className = "error";
        message.textContent = error.message;
      }
    });
    return button;
  };
  page.append(
    h(
      "section",
      { class: "card" },
      h("h2", null, "API keys"),
      table(
        [{ label: "Id", num: true }, "Owner", "Name", "Prefix", "Scopes", "State", "Last used", "Expires", ""],
        keys.map((k) =>
          h(
            "tr",
            { "data-id": k.id },
            h("td", { class: "num" }, String(k.id)),
            h("td", null, userLabel(list, k.user_id)),
            h("td", null, k.name),
            h("td", null, h("code", null, `${k.prefix}…`)),
            h("td", null, k.scopes.join(", ")),
            h("td", null, keyState(k)),
            h("td", { class: "nowrap" }, fmtTime(k.last_used_at)),
            h("td", { class: "nowrap" }, k.expires_at ? fmtTime(k.expires_at) : "never"),
            h("td", null, k.state === "active" ? revoke(k) : ""),
          ),
        ),
        { id: "keys-table" },
      ),
    ),
  );
};

// ------------------------------------------------------------------ configuration

function shownValue(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

PAGES.config = async function config(page) {
  page.append(h("h1", null, "Configuration"), h("p", { class: "muted" }, "The gateway's effective settings, as tokligence config show prints them; secrets are masked by the gateway."));
  const data = await api("config");
  const filter = h("input", { type: "search", id: "config-filter", placeholder: "Filter settings" });
  const rows = data.settings.map((row) =>
    h(
      "tr",
      { "data-name": row.name },
      h("td", null, h("code", null, row.name)),
      h("td", { class: "value" }, shownValue(row.value)),
      h("td", null, row.source),
      h("td", null, h("code", null, row.env)),
      h("td", { class: "muted" }, row.help),
    ),
  );
  on(filter, "input", () => {
    const wanted = filter.value.toLowerCase();
    for (const tr of rows) tr.hidden = wanted !== "" && !tr.textContent.toLowerCase().includes(wanted);
  });
  page.append(h("div", { class: "controls" }, filter), table(["Setting", "Value", "Source", "Environment variable", "Help"], rows, { id: "config-table" }));
};

// ------------------------------------------------------------------ routing

async function route() {
  leave();
  leave = () => {};
  const mine = ++generation;
  const name = (location.hash || "#overview").slice(1);
  const draw = PAGES[name] || PAGES.overview;
  const chosen = PAGES[name] ? name : "overview";
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === chosen) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const page = h("div", { class: "page", id: `page-${chosen}`, "aria-busy": "true" });
  clear(main).append(page);
  try {
    const stop = await draw(page, () => mine === generation);
    if (mine === generation && typeof stop === "function") leave = stop;
    else if (typeof stop === "function") stop();
  } catch (error) {
    if (mine === generation) page.append(failure(error));
  }
  if (mine === generation) {
    page.setAttribute("aria-busy", "false");
    document.body.dataset.ready = chosen;
  }
}

async function start() {
  on(window, "hashchange", route);
  signout.hidden = !storedKey();
  if (!storedKey()) {
    const session = await fetch("/console/session.json", { cache: "no-store" }).then((r) => r.json());
    if (session.auth_required) {
      showLogin("");
      return;
    }
  }
  route();
}

start();
