// One job: its instances (state, reason, host, exit code), a live tail of its newest
// instance's log, scale and stepped scale, the autoscaler's decisions with their reasons,
// and for a scheduled job its runs and "launch now".

import { api, headers } from "./api.js";
import { h, showErrors, when } from "./dom.js";
import { progress } from "./jobs.js";

export async function mount(root, ctx) {
  const name = ctx.arg;
  const path = `/v1/jobs/${encodeURIComponent(name)}`;
  const summary = h("dl", { class: "summary" });
  const instances = h("tbody");
  const decisions = h("ul", { class: "decisions" });
  const runs = h("div");
  const log = h("pre", { class: "log", id: "log", role: "log", tabindex: 0, "aria-label": "Log of the newest instance" });
  const scaleForm = h("form", { class: "card", id: "scale", "data-needs": "write", "data-draft": `scale-${name}`, novalidate: true },
    h("h2", {}, "Scale"),
    h("div", { class: "grid" },
    h("div", { class: "field", "data-field": "count" }, h("label", { for: "scale-count" }, "Instances"),
      h("input", { id: "scale-count", name: "count", type: "number", min: 0 })),
    h("div", { class: "field", "data-field": "steps" }, h("label", { for: "scale-steps" }, "or steps (e.g. 2, 4, 8)"),
      h("input", { id: "scale-steps", name: "steps", inputmode: "numeric" }))),
    h("p", { class: "form-message", role: "alert" }),
    h("button", { type: "submit" }, "Scale"));
  root.append(
    h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")),
    h("h1", {}, `Job ${name}`), summary,
    h("h2", {}, "Instances"),
    h("div", { class: "scroll" }, h("table", {}, h("caption", { class: "visually-hidden" }, "Instances"),
      h("thead", {}, h("tr", {}, ...["Instance", "State", "Reason", "Host", "Exit code"].map((c) => h("th", { scope: "col" }, c)))),
      instances)),
    scaleForm,
    h("h2", {}, "Autoscaler decisions"), decisions,
    runs,
    h("h2", {}, "Log (newest instance)"), log);
  ctx.trim(root);

  scaleForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const steps = scaleForm.steps.value.trim();
    const body = steps ? { steps: steps.split(/[\s,]+/).map(Number) } : { count: Number(scaleForm.count.value) };
    try {
      await api(`${path}/scale`, { method: "PUT", body });
      showErrors(scaleForm, null);
      scaleForm.querySelector(".form-message").textContent = "scaled";
      await load();
    } catch (error) {
      for (const e of error.errors) if (e.field?.startsWith("steps[")) e.field = "steps";
      showErrors(scaleForm, error);
    }
  });

  async function load() {
    let job;
    try { job = await api(path); } catch (error) {
      summary.replaceChildren(h("dd", {}, error.message));
      return;
    }
    const pct = progress(job);
    const pairs = [["Status", job.phase], ["Reason", job.reason || "–"], ["Namespace", job.namespace],
      ["Created on", when(job.created_at)], ["Wanted", job.desired], ["Running", job.running],
      ["Finished", job.succeeded], ["Failed", job.failed], ["Restarts", job.restarts]];
    summary.replaceChildren(...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]),
      h("dt", {}, "Progress"), h("dd", {}, h("progress", { max: 100, value: pct, "aria-label": "progress" }), ` ${pct}%`));
    instances.replaceChildren(...(job.instances || []).map((i) => h("tr", { "data-state": i.state },
      h("th", { scope: "row" }, i.id), h("td", {}, i.state), h("td", {}, i.reason || ""),
      h("td", {}, i.host || ""), h("td", {}, i.exit_code ?? ""))));
    if (job.schedule) {
      runs.replaceChildren(h("h2", {}, "Schedule"),
        h("p", {}, `Next firing ${when(job.schedule.next_firing)}, last ${when(job.schedule.last_firing) || "never"}`),
        ctx.allowed("write") ? h("button", { type: "button", onclick: launch }, "Launch now") : "",
        h("ul", {}, ...job.schedule.runs.map((r) => h("li", {}, `${r.name}: ${r.phase}${r.manual ? " (launched by hand)" : ""} at ${when(r.firing)}${r.reason ? ` – ${r.reason}` : ""}`))));
      return;
    }
    const scale = await api(`${path}/autoscale`).catch(() => null);
    const list = scale?.decisions || [];
    decisions.replaceChildren(...(list.length ? list.map((d) => h("li", {},
      `${when(d.at)}: ${d.current ?? "?"} → ${d.desired ?? "?"}${d.changed ? "" : " (kept)"} – ${d.reason || ""}`)) : [h("li", {}, "none")]));
  }

  async function launch() {
    if (!confirm(`Launch ${name} now?`)) return;
    try { await api(`${path}/launch`, { method: "POST", body: {} }); } catch (error) { alert(error.message); }
    await load();
  }

  // The newest instance's log, followed while it runs.
  let tail = null;
  async function follow() {
    tail?.abort();
    tail = new AbortController();
    try {
      const response = await fetch(`${path}/logs?tail=200&follow=true`, { headers: headers(), signal: tail.signal });
      if (!response.ok) { log.textContent = (await response.json().catch(() => ({}))).message || ""; return; }
      log.textContent = "";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        log.textContent = (log.textContent + value).slice(-50000);
        log.scrollTop = log.scrollHeight;
      }
    } catch { /* aborted or gone */ }
  }

  let timer = null;
  await load();
  follow();
  return {
    onEvent(kind, data) {
      const mine = (kind === "job" && data.name === name) || (kind === "task" && data.submission_id === name);
      if (mine || kind === "reset") {
        clearTimeout(timer);
        timer = setTimeout(load, 150);
        if (kind === "task" && data.state === "RUNNING") follow();
      }
    },
    unmount() { tail?.abort(); clearTimeout(timer); },
  };
}
