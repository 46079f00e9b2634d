// Jobs (Jisto's Manage Jobs, 3.2.2): name, created on, number of nodes, tasks finished /
// running / left, status and a progress bar, live; a new job from a form or a job JSON,
// with the API's own field errors next to the fields; stop, delete, launch now.

import { api } from "./api.js";
import { dropDraft, h, keepDraft, showErrors, when } from "./dom.js";
import { mountJisto } from "./jisto.js";

export function progress(job) {
  const want = job.desired || 0;
  if (job.phase === "complete") return 100;
  if (!want) return 0;
  const done = job.type === "service" ? job.running : job.succeeded;
  return Math.min(100, Math.round((100 * done) / want));
}

export function left(job) {
  return Math.max(0, (job.desired || 0) - (job.succeeded || 0) - (job.running || 0));
}

// Form fields -> the job JSON (the JSON box is the base; the fields, when given, win).
const FIELDS = [
  ["name", "Name", "text", "name"], ["type", "Type", "select", "type"],
  ["completions", "Completions", "number", "completions"],
  ["parallelism", "Parallelism", "number", "parallelism"],
  ["image", "Image", "text", "task.dockerimage"], ["cpus", "CPUs", "number", "task.cpus"],
  ["mem", "Memory (MiB)", "number", "task.mem"], ["command", "Command (sh -c)", "text", "task.arguments"],
];

export function jobFrom(form) {
  let job = {};
  const text = form.json.value.trim();
  if (text) job = JSON.parse(text);
  const value = (name) => form[name].value.trim();
  if (value("name")) job.name = value("name");
  if (value("type")) job.type = value("type");
  for (const key of ["completions", "parallelism"]) if (value(key)) job[key] = Number(value(key));
  const task = job.task || {};
  if (value("image")) task.dockerimage = value("image");
  if (value("cpus")) task.cpus = Number(value("cpus"));
  if (value("mem")) task.mem = Number(value("mem"));
  if (value("command")) task.arguments = ["sh", "-c", value("command")];
  if (Object.keys(task).length) job.task = task;
  return job;
}

function field([name, label, kind, path]) {
  const id = `job-${name}`;
  const input = kind === "select"
    ? h("select", { id, name }, h("option", { value: "" }, "(from JSON)"),
        ...["batch", "service", "system", "parallel"].map((t) => h("option", { value: t }, t)))
    : h("input", { id, name, type: kind, step: kind === "number" ? "any" : undefined,
        placeholder: { name: "my-job", image: "berth/busybox", command: "echo hello" }[name] });
  return h("div", { class: "field", "data-field": path }, h("label", { for: id }, label), input);
}

export async function mount(root, ctx) {
  const rows = h("tbody");
  const jobs = new Map();
  const hosts = new Map(); // job name -> Map(instance id -> host)
  const table = h("table", { class: "jobs" },
    h("caption", { class: "visually-hidden" }, "Jobs"),
    h("thead", {}, h("tr", {}, ...["Name", "Created on", "# of nodes", "Finished", "Running", "Left",
      "Status", "Progress", "Actions"].map((c) => h("th", { scope: "col" }, c)))), rows);
  const form = h("form", { class: "card", id: "new-job", "data-draft": "new-job", "data-needs": "write", novalidate: true },
    h("h2", {}, "Create a new job"),
    h("div", { class: "grid" }, ...FIELDS.map(field)),
    h("div", { class: "field wide", "data-field": "" },
      h("label", { for: "job-json" }, "Job JSON (or upload a file)"),
      h("textarea", { id: "job-json", name: "json", rows: 6, spellcheck: "false" })),
    h("div", { class: "field" }, h("label", { for: "job-file" }, "Job file"),
      h("input", { id: "job-file", name: "file", type: "file", accept: ".json,application/json" })),
    h("p", { class: "form-message", role: "alert" }),
    h("button", { type: "submit" }, "Create job"));
  root.append(h("h1", {}, "Jobs"), h("div", { class: "scroll" }, table), form);
  ctx.trim(root);
  if (root.contains(form)) keepDraft(form);
  const jisto = mountJisto(root, ctx);

  form.file?.addEventListener("change", async () => {
    const file = form.file.files[0];
    if (file) { form.json.value = await file.text(); form.json.dispatchEvent(new Event("input", { bubbles: true })); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let job;
    try { job = jobFrom(form); } catch (error) {
      showErrors(form, { message: "the job JSON does not parse", errors: [{ field: "", problem: error.message }] });
      return;
    }
    try {
      await api("/v1/jobs", { method: "POST", body: job });
      showErrors(form, null);
      form.querySelector(".form-message").textContent = `created ${job.name}`;
      form.reset();
      dropDraft(form);
      await load();
    } catch (error) {
      showErrors(form, error);
    }
  });

  async function act(job, what) {
    const verbs = { stop: "Stop", delete: "Delete", launch: "Launch now" };
    if (!confirm(`${verbs[what]} job ${job.name}?`)) return;
    const path = `/v1/jobs/${encodeURIComponent(job.name)}`;
    try {
      if (what === "delete") await api(path, { method: "DELETE" });
      else await api(`${path}/${what}`, { method: "POST", body: {} });
    } catch (error) { alert(error.message); }
    await load();
  }

  function row(job) {
    const pct = progress(job);
    const nodes = new Set([...(hosts.get(job.name)?.values() || [])].filter(Boolean)).size;
    const link = h("a", { href: `#/jobs/${encodeURIComponent(job.name)}` }, job.name);
    const actions = h("td", { class: "actions" });
    if (ctx.allowed("write")) {
      if (job.phase === "scheduled") actions.append(h("button", { type: "button", onclick: () => act(job, "launch") }, "Launch now"));
      else if (!["complete", "failed", "stopped"].includes(job.phase)) actions.append(h("button", { type: "button", onclick: () => act(job, "stop") }, "Stop"));
      actions.append(h("button", { type: "button", class: "danger", onclick: () => act(job, "delete") }, "Delete"));
    }
    return h("tr", { "data-job": job.name, "data-phase": job.phase },
      h("th", { scope: "row" }, link), h("td", {}, when(job.created_at)), h("td", {}, nodes),
      h("td", {}, job.succeeded), h("td", {}, job.running), h("td", {}, left(job)),
      h("td", { class: `phase ${job.phase}`, title: job.reason || "" }, job.phase),
      h("td", {}, h("progress", { max: 100, value: pct, "aria-label": `${job.name} progress` }), ` ${pct}%`),
      actions);
  }

  function render() {
    const sorted = [...jobs.values()].sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
    rows.replaceChildren(...sorted.map(row));
    if (!sorted.length) rows.append(h("tr", {}, h("td", { colspan: 9 }, "No jobs yet.")));
  }

  async function load() {
    const [list, tasks] = await Promise.all([api("/v1/jobs"), api("/v1/tasks")]);
    jobs.clear();
    for (const job of list.jobs) jobs.set(job.name, job);
    hosts.clear();
    for (const t of tasks.tasks) {
      const host = t.hostname || t.host;
      if (!hosts.has(t.submission_id)) hosts.set(t.submission_id, new Map());
      hosts.get(t.submission_id).set(t.internal_id || t.id, host);
    }
    render();
  }

  let pending = null;
  function later() { if (!pending) pending = requestAnimationFrame(() => { pending = null; render(); }); }

  await Promise.all([load(), jisto.load()]);
  return {
    unmount: jisto.unmount,
    onEvent(kind, data) {
      jisto.onEvent(kind, data);
      if (kind === "job") { jobs.set(data.name, { ...jobs.get(data.name), ...data }); later(); }
      else if (kind === "task" && data.host) {
        if (!hosts.has(data.submission_id)) hosts.set(data.submission_id, new Map());
        hosts.get(data.submission_id).set(data.id, data.host);
        if (jobs.has(data.submission_id)) later();
      } else if (kind === "reset") load();
    },
  };
}
