// The sign-in page: a user and password (HTTP Basic) or an API token (Bearer), checked
// against GET /v1/session, then kept for this tab only and back to the page that asked.

import { remember } from "./api.js";

const form = document.getElementById("sign-in");
const message = form.querySelector(".form-message");
const why = document.getElementById("why");
if (new URLSearchParams(location.search).has("expired")) {
  why.textContent = "Your session has ended: sign in again to go back to what you were doing (what you typed is kept).";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = form.token.value.trim();
  const value = token ? `Bearer ${token}`
    : `Basic ${btoa(unescape(encodeURIComponent(`${form.user.value}:${form.password.value}`)))}`;
  message.textContent = "";
  const response = await fetch("/v1/session", { headers: { Authorization: value, "X-Berth-UI": "1" } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    message.textContent = body.message || `refused (HTTP ${response.status})`;
    return;
  }
  remember(value);
  const next = sessionStorage.getItem("berth.next") || "#/graph";
  sessionStorage.removeItem("berth.next");
  location.assign(`./${next}`);
});
