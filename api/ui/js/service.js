// One service (ConPaaS's service page): its instances with roles (master/node), addresses
// and a status light per lifecycle script (never run / running / exited, the exit code
// on hover); add / remove instances; code versions (upload, set active, delete); run /
// interrupt / cleanup with parameters, the second interrupt offered as "Kill"; volumes.
// Kept live by the stream's `task`, `job` and `scripts` events.

import { api, headers, signIn } from "./api.js";
import { h, ok, showErrors, when } from "./dom.js";

const SCRIPTS = ["init", "notify", "run", "interrupt", "cleanup"];

function light(name, status) {
  const state = status?.state || "never run";
  const failed = state === "exited" && status.exit_code !== 0;
  const said = state === "exited"
    ? `exit code ${status.exit_code ?? "none"}${status.error ? ` (${status.error})` : ""}` : state;
  return h("span", { class: `light ${state.replace(" ", "-")}${failed ? " failed" : ""}`, role: "img",
    "data-script": name, "data-state": state, title: `${name}.sh: ${said}`, "aria-label": `${name}.sh: ${said}` });
}

function form(id, title, fields, button, extra = {}) {
  return h("form", { class: "card", id, "data-needs": "write", novalidate: true, ...extra },
    h("h2", {}, title), h("div", { class: "grid" }, ...fields),
    h("p", { class: "form-message", role: "alert" }), button);
}

function input(id, name, label, attrs = {}, field = name) {
  return h("div", { class: "field", "data-field": field }, h("label", { for: id }, label), h("input", { id, name, ...attrs }));
}

export async function mount(root, ctx) {
  const name = ctx.arg;
  const path = `/v1/jobs/${encodeURIComponent(name)}`;
  const summary = h("p", { class: "legend", id: "service-summary" });
  const instances = h("tbody");
  const versions = h("tbody");
  const volumes = h("tbody");
  const scale = h("div", { class: "controls", "data-needs": "write" },
    h("button", { type: "button", id: "add-instance", onclick: () => rescale(+1) }, "Add instance"),
    h("button", { type: "button", id: "remove-instance", class: "danger", onclick: () => rescale(-1) }, "Remove instance"),
    h("span", { class: "form-message", id: "scale-message", role: "alert" }));
  const interrupt = h("button", { type: "button", id: "script-interrupt", onclick: () => script("interrupt") }, "Interrupt");
  const scripts = form("scripts", "Scripts", [input("script-parameters", "parameters", "Parameters ($1 $2 …)", {}, "parameters")],
    h("div", { class: "controls" },
      h("button", { type: "button", id: "script-run", onclick: () => script("run") }, "Run"), interrupt,
      h("button", { type: "button", id: "script-cleanup", onclick: () => script("cleanup") }, "Cleanup")));
  const upload = form("code-upload", "Upload a code version", [
    input("code-file", "file", "Archive (tar, tar.gz, tar.bz2, zip)", { type: "file" }),
    input("code-description", "description", "Description")], h("button", { type: "submit" }, "Upload"));
  const volume = form("volume-create", "Create a volume", [
    input("volume-name", "name", "Name"), input("volume-size", "size", "Size (MB)", { type: "number", min: 1 }),
    input("volume-instance", "instance", "Instance")], h("button", { type: "submit" }, "Create volume"));
  const table = (caption, cols, body) => h("div", { class: "scroll" }, h("table", {}, h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", { scope: "col" }, c)))), body));
  root.append(h("p", {}, h("a", { href: "#/services" }, "← Services")), h("h1", {}, `Service ${name}`), summary,
    h("h2", {}, "Instances"),
    table("Instances", ["Instance", "Role", "Address", "Host", "State", "Scripts"], instances), scale, scripts,
    h("h2", {}, "Code versions"), table("Code versions", ["Version", "File", "Description", "Uploaded", "Active", "Actions"], versions), upload,
    h("h2", {}, "Volumes"), table("Volumes", ["Name", "Size (MB)", "Instance", "Mounted at"], volumes), volume);
  ctx.trim(root);
  let job = null;
  let interrupting = false;

  async function rescale(step) {
    const message = document.getElementById("scale-message");
    const count = Math.max(0, (job?.desired || 0) + step);
    if (step < 0 && !confirm(`Remove an instance of ${name} (to ${count})?`)) return;
    try {
      await api(`${path}/scale`, { method: "PUT", body: { count } });
      message.textContent = "";
      await load();
    } catch (error) { message.textContent = error.message; }
  }

  async function script(which) {
    const parameters = scripts.parameters.value.trim().split(/\s+/).filter(Boolean);
    if (which === "interrupt" && interrupting && !confirm("Kill every running script?")) return;
    try {
      await api(`${path}/scripts/${which}`, { method: "POST", body: { parameters } });
      showErrors(scripts, null);
      ok(scripts).textContent = `${which === "interrupt" && interrupting ? "kill" : which} asked for`;
      await loadScripts();
    } catch (error) {
      for (const e of error.errors) if (e.field?.startsWith("parameters")) e.field = "parameters";
      showErrors(scripts, error);
    }
  }

  upload.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = upload.file.files[0];
    if (!file) { showErrors(upload, { message: "", errors: [{ field: "file", problem: "pick an archive" }] }); return; }
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("description", upload.description.value);
    const response = await fetch(`${path}/code`, { method: "POST", headers: headers(), body });
    if (response.status === 401) { signIn(true); return; }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { showErrors(upload, data); return; }
    showErrors(upload, null);
    ok(upload).textContent = `code version ${data.id} uploaded`;
    upload.reset();
    await loadCode();
  });

  volume.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: volume.name.value.trim(), size: Number(volume.size.value), instance: volume.instance.value.trim() };
    try {
      await api(`${path}/volumes`, { method: "POST", body });
      showErrors(volume, null);
      volume.reset();
      await loadVolumes();
    } catch (error) { showErrors(volume, error); }
  });

  async function codeAction(version, what) {
    try {
      if (what === "active") await api(`${path}/code/${encodeURIComponent(version.id)}/active`, { method: "PUT", body: {} });
      else if (confirm(`Delete code version ${version.id}?`)) await api(`${path}/code/${encodeURIComponent(version.id)}`, { method: "DELETE" });
    } catch (error) { alert(error.message); }
    await loadCode();
  }

  async function dropVolume(v) {
    if (!confirm(`Delete volume ${v.name}? Its instance restarts without it.`)) return;
    try { await api(`${path}/volumes/${encodeURIComponent(v.name)}`, { method: "DELETE" }); } catch (error) { alert(error.message); }
    await loadVolumes();
  }

  let status = new Map();
  function renderInstances() {
    if (!job) return;
    const live = (job.instances || []).filter((i) => !["FINISHED", "FAILED", "KILLED", "LOST", "ERROR"].includes(i.state));
    const firstRunning = live.find((i) => i.state === "RUNNING")?.id;
    instances.replaceChildren(...live.map((i) => {
      const s = status.get(i.id);
      const role = s?.role || (i.id === firstRunning ? "master" : i.state === "RUNNING" ? "node" : "");
      return h("tr", { "data-instance": i.id, "data-state": i.state },
        h("th", { scope: "row" }, i.id), h("td", {}, role), h("td", {}, s?.address || ""),
        h("td", {}, i.host || ""), h("td", { title: i.reason || "" }, i.state),
        h("td", { class: "lights" }, ...SCRIPTS.map((n) => light(n, s?.scripts?.[n]))));
    }));
    if (!live.length) instances.append(h("tr", {}, h("td", { colspan: 6 }, "No instances.")));
    summary.textContent = `${job.phase}: ${job.running} of ${job.desired} instances running${job.reason ? ` (${job.reason})` : ""}`;
    interrupt.textContent = interrupting ? "Kill" : "Interrupt";
  }

  async function loadScripts() {
    const data = await api(`${path}/scripts`).catch(() => ({ instances: [] }));
    status = new Map(data.instances.map((s) => [s.instance, s]));
    interrupting = !!data.interrupting;
    renderInstances();
  }

  async function loadCode() {
    const data = await api(`${path}/code`).catch(() => ({ codeVersions: [] }));
    versions.replaceChildren(...data.codeVersions.map((v) => h("tr", { "data-version": v.id },
      h("th", { scope: "row" }, v.id), h("td", {}, v.filename), h("td", {}, v.description || ""),
      h("td", {}, when(v.created_at)), h("td", {}, v.current ? "✓ active" : ""),
      h("td", { class: "actions" }, ctx.allowed("write") && !v.current ? [
        h("button", { type: "button", onclick: () => codeAction(v, "active") }, "Set active"),
        h("button", { type: "button", class: "danger", onclick: () => codeAction(v, "delete") }, "Delete")] : ""))));
    if (!data.codeVersions.length) versions.append(h("tr", {}, h("td", { colspan: 6 }, "No code versions yet.")));
  }

  async function loadVolumes() {
    const data = await api(`${path}/volumes`).catch(() => ({ volumes: [] }));
    volumes.replaceChildren(...data.volumes.map((v) => h("tr", {},
      h("th", { scope: "row" }, v.name), h("td", {}, v.size), h("td", {}, v.attached_to || v.instance || ""),
      h("td", {}, v.mount, ctx.allowed("write") ? h("button", { type: "button", class: "danger", onclick: () => dropVolume(v) }, "Delete") : ""))));
    if (!data.volumes.length) volumes.append(h("tr", {}, h("td", { colspan: 4 }, "No volumes.")));
  }

  async function load() {
    job = await api(path);
    renderInstances();
  }

  await Promise.all([load(), loadScripts(), loadCode(), loadVolumes()]);
  let timer = null;
  return {
    onEvent(kind, data) {
      if (kind === "scripts" && data.job === name) loadScripts();
      const mine = (kind === "job" && data.name === name) || (kind === "task" && data.submission_id === name);
      if (mine || kind === "reset") { clearTimeout(timer); timer = setTimeout(load, 100); }
    },
    unmount() { clearTimeout(timer); },
  };
}
