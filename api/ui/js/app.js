// The UI's shell: who is signed in (GET /v1/session), the namespace shown, one event
// stream shared by the pages, and a page per hash route (#/graph, #/jobs, #/jobs/NAME,
// #/tasks, #/images, #/services, #/services/NAME). What the caller may not do is not
// offered: controls marked data-needs=write or data-needs=admin are removed for a caller
// without that scope.

import { api, signIn, signOut } from "./api.js";
import * as graph from "./graph.js";
import * as images from "./images.js";
import * as job from "./job.js";
import * as jobs from "./jobs.js";
import * as service from "./service.js";
import * as services from "./services.js";
import { connect } from "./stream.js";
import * as tasks from "./tasks.js";

// Every page is loaded with the shell (they are small): a page change fetches no code.
const PAGES = { graph, jobs, job, tasks, images, services, service };
const RANK = { read: 1, write: 2, admin: 3 };
const view = document.getElementById("view");
const live = document.getElementById("live");
let session = null;
let current = null;
let generation = 0;

export function allowed(scope) {
  return RANK[session?.scope || "read"] >= RANK[scope];
}

export function trim(root) {
  for (const node of root.querySelectorAll("[data-needs]")) {
    if (!allowed(node.dataset.needs)) node.remove();
  }
}

function route() {
  const parts = (location.hash || "#/graph").slice(2).split("/").map(decodeURIComponent);
  if (parts[0] === "jobs" && parts[1]) return ["job", parts[1]];
  if (parts[0] === "services" && parts[1]) return ["service", parts[1]];
  return [PAGES[parts[0]] ? parts[0] : "graph", null];
}

async function show() {
  const mine = ++generation;
  delete document.body.dataset.ready;
  const [page, arg] = route();
  current?.unmount?.();
  current = null;
  for (const link of document.querySelectorAll("nav a")) {
    const here = link.dataset.page === page || `${link.dataset.page}`.replace(/s$/, "") === page;
    if (here) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const module = PAGES[page];
  view.replaceChildren();
  try {
    const mounted = await module.mount(view, { arg, session, allowed, trim });
    if (mine !== generation) { mounted?.unmount?.(); return; }  // left while it loaded
    current = mounted;
  } catch (error) {
    if (error.status === 401) return;  // gone to the sign-in page
    view.append(Object.assign(document.createElement("p"), {
      className: "form-message", role: "alert", textContent: `This page could not load: ${error.message}` }));
    document.body.dataset.error = error.message;
    return;
  }
  view.focus({ preventScroll: true });
  // When the page's data is on screen (the browser tests and `berth bench ui` read it).
  document.body.dataset.page = page;
  document.body.dataset.ready = String(performance.now());
}

function status(state) {
  live.textContent = state === "live" ? "live" : "connection lost: reconnecting…";
  live.className = `live ${state}`;
}

async function start() {
  try {
    session = await api("/v1/session");
  } catch (error) {
    if (error.status !== 401) view.textContent = `cannot reach berth: ${error.message}`;
    return;
  }
  document.getElementById("user").textContent = session.user;
  const spaces = session.namespaces;
  document.getElementById("namespace").textContent =
    `namespace: ${spaces === null ? "all" : spaces.join(", ") || "none"}`;
  const out = document.getElementById("sign-out");
  if (session.user === "local") out.remove(); else out.addEventListener("click", signOut);
  let first = true;  // the first `reset` only says the stream began: the page just loaded
  const stop = connect((kind, data) => {
    if (kind === "reset" && first) { first = false; return; }
    first = false;
    current?.onEvent?.(kind, data);
  }, status);
  // A page left (or kept in the back/forward cache) holds no connection: the browser
  // allows only six to one server, and a stream or a log tail would keep one each.
  window.addEventListener("pagehide", () => { stop(); current?.unmount?.(); });
  window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });
  window.addEventListener("hashchange", show);
  await show();
}

export { signIn };
start();
