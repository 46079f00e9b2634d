// The Jobs page's Jisto part (Manage Jobs, 3.2.2): a job from an image and a job-source
// archive (POST /v1/jobsource), and Jisto's jobs with RunJob / StopJob / DeleteJob.
// Mounted inside the Jobs page (jobs.js), which passes on the stream's events.

import { api, headers, signIn } from "./api.js";
import { h, ok, showErrors, when } from "./dom.js";

export function mountJisto(root, ctx) {
  const rows = h("tbody");
  const form = h("form", { class: "card", id: "new-jisto-job", "data-needs": "write", novalidate: true },
    h("h2", {}, "Create a job from an image and a job source"),
    h("div", { class: "grid" },
      h("div", { class: "field", "data-field": "image" }, h("label", { for: "source-image" }, "Image"),
        h("input", { id: "source-image", name: "image", placeholder: "berth/busybox", list: "ready-images" }),
        h("datalist", { id: "ready-images" })),
      h("div", { class: "field", "data-field": "archive" }, h("label", { for: "source-archive" }, "Job source (tar.gz with config.json)"),
        h("input", { id: "source-archive", name: "archive", type: "file", accept: ".tar.gz,.tgz,application/gzip" }))),
    h("div", { "data-field": "config.json" }),
    h("p", { class: "form-message", role: "alert" }),
    h("button", { type: "submit" }, "Create job"));
  const section = h("section", { "aria-labelledby": "jisto-title" },
    h("h2", { id: "jisto-title" }, "Jisto jobs"),
    h("div", { class: "scroll" }, h("table", { class: "jisto" }, h("caption", { class: "visually-hidden" }, "Jisto jobs"),
      h("thead", {}, h("tr", {}, ...["Name", "Created on", "# of nodes", "Finished", "Running", "Left", "State", "Progress", "Actions"]
        .map((c) => h("th", { scope: "col" }, c)))), rows)),
    form);
  root.append(section);
  ctx.trim(section);
  let berthJobs = new Set();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.archive.files[0];
    const body = new FormData();
    body.append("image", form.image.value.trim());
    if (file) body.append("archive", file, file.name);
    const response = await fetch("/v1/jobsource", { method: "POST", headers: headers(), body });
    if (response.status === 401) { signIn(true); return; }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      for (const e of data.errors || []) if (e.field?.startsWith("config.json")) e.field = "config.json";
      showErrors(form, data); return;
    }
    showErrors(form, null);
    ok(form).textContent = `created ${data.Name}: run it with Run`;
    form.reset();
    await load();
  });

  async function op(job, what) {
    const verbs = { RunJob: "Run", StopJob: "Stop", DeleteJob: "Delete" };
    if (!confirm(`${verbs[what]} Jisto job ${job.Name}?`)) return;
    try { await api(`/v1/job/${encodeURIComponent(job.UUID)}/op/${what}`, { method: "POST", body: {} }); }
    catch (error) { alert(error.message); }
    await load();
  }

  function row(job) {
    const actions = h("td", { class: "actions" });
    if (ctx.allowed("write")) {
      if (["Created", "Finished", "Failed", "Stopped", "Cancelled"].includes(job.State)) {
        actions.append(h("button", { type: "button", onclick: () => op(job, "RunJob") }, "Run"));
      } else actions.append(h("button", { type: "button", onclick: () => op(job, "StopJob") }, "Stop"));
      actions.append(h("button", { type: "button", class: "danger", onclick: () => op(job, "DeleteJob") }, "Delete"));
    }
    const name = job.Job ? h("a", { href: `#/jobs/${encodeURIComponent(job.Job)}` }, job.Name) : job.Name;
    return h("tr", { "data-jisto": job.Name, "data-state": job.State },
      h("th", { scope: "row" }, name), h("td", {}, when(Date.parse(job.CreatedOn) / 1000)), h("td", {}, job.Nodes),
      h("td", {}, job.TasksFinished), h("td", {}, job.TasksRunning), h("td", {}, job.TasksLeft),
      h("td", { title: job.Reason || "" }, job.State),
      h("td", {}, h("progress", { max: 100, value: job.Progress, "aria-label": `${job.Name} progress` }), ` ${job.Progress}%`),
      actions);
  }

  // berth's ready images offered in the image field (any other name may be typed).
  async function images() {
    const list = await api("/v1/images").catch(() => ({ images: [] }));
    form.querySelector("#ready-images")?.replaceChildren(...list.images
      .filter((i) => i.state === "ready").map((i) => h("option", { value: i.name })));
  }

  async function load() {
    images();
    const data = await api("/v1/job");
    berthJobs = new Set(data.Jobs.map((j) => j.Job).filter(Boolean));
    rows.replaceChildren(...data.Jobs.slice().reverse().map(row));
    if (!data.Jobs.length) rows.append(h("tr", {}, h("td", { colspan: 9 }, "No Jisto jobs yet.")));
  }

  let timer = null;
  return {
    load,
    onEvent(kind, data) {
      const mine = (kind === "job" && berthJobs.has(data.name)) || (kind === "task" && berthJobs.has(data.submission_id));
      if (mine || kind === "reset") { clearTimeout(timer); timer = setTimeout(load, 200); }
    },
    unmount() { clearTimeout(timer); },
  };
}
