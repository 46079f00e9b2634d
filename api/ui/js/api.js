// The /v1 API as the signed-in user: the credential (an Authorization value) lives in
// sessionStorage, so it dies with the tab, is never sent by the browser on its own (no
// cookie, so no cross-site request can use it) and the framework's gate is unchanged.
// A 401 means the session ended: back to the sign-in page, which returns here after.

const KEY = "berth.auth";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.errors = body?.errors || [];
  }
}

export function credential() {
  return sessionStorage.getItem(KEY);
}

export function remember(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

// X-Berth-UI: a refusal then challenges for a token only, so the browser does not open
// its own password dialog over the page.
export function headers(extra = {}) {
  const value = credential();
  const mine = { ...extra, "X-Berth-UI": "1" };
  return value ? { ...mine, Authorization: value } : mine;
}

export function signIn(expired) {
  sessionStorage.setItem("berth.next", location.hash || "#/graph");
  location.assign(`login.html${expired ? "?expired=1" : ""}`);
}

export function signOut() {
  remember(null);
  sessionStorage.removeItem("berth.next");
  location.assign("login.html");
}

// A read is tried again when the network blinked (the browser aborts fetches when an
// interface comes or goes); a change is not, since it may have reached the server.
async function fetchAgain(path, init, tries) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(path, init);
    } catch (error) {
      if (attempt >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetchAgain(path, init, method === "GET" ? 4 : 1);
  if (response.status === 401) {
    signIn(true);
    throw new ApiError(401, { message: "session expired" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
