// Talking to the admin API. The admin key (when the gateway requires one)
// lives in sessionStorage — this tab only, gone when it closes — and is
// sent as a Bearer header, never in a URL.

const PREFIX = "/api/v1/admin/";
const STORAGE = "tokligence.console.key";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function storedKey() {
  return sessionStorage.getItem(STORAGE) || "";
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(STORAGE, key);
  else sessionStorage.removeItem(STORAGE);
}

let onUnauthorized = () => {};

export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function api(path, { method = "GET", body, query } = {}) {
  const headers = { accept: "application/json" };
  const key = storedKey();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let url = PREFIX + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const text = params.toString();
    if (text) url += "?" + text;
  }
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = payload && payload.error ? payload.error : {};
    const failure = new ApiError(response.status, error.message || `HTTP ${response.status}`, error.code);
    if (response.status === 401) onUnauthorized(failure);
    throw failure;
  }
  return payload;
}
