// Tasks and the cluster: Charmander's task list with each pending task's reason (the
// counts of nodes behind it are in the reason's words), the agents with their total,
// incumbent, allocated and spare resources, the latest offers, and a reshuffle button.

import { api } from "./api.js";
import { h, num, when } from "./dom.js";

const LIVE = new Set(["STAGING", "STARTING", "RUNNING", "KILLING"]);
const SHOWN = 500; // rows drawn; the counts cover all

export async function mount(root, ctx) {
  const tasks = new Map();
  const offers = [];
  let agents = [];
  let sizes = {};
  const filter = h("select", { id: "state-filter", name: "state" },
    ...["all", "PENDING", "RUNNING", "FINISHED", "FAILED", "KILLED"].map((s) => h("option", { value: s }, s.toLowerCase())));
  const counts = h("p", { id: "task-counts" });
  const taskRows = h("tbody");
  const agentRows = h("tbody");
  const offerRows = h("tbody");
  const outcome = h("p", { id: "reshuffle-outcome", role: "status" });
  const reshuffle = h("button", { type: "button", id: "reshuffle", "data-needs": "admin" }, "Reshuffle by usage");
  const head = (...cols) => h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", { scope: "col" }, c))));
  root.append(
    h("h1", {}, "Tasks and the cluster"),
    h("section", { "aria-labelledby": "tasks-title" }, h("h2", { id: "tasks-title" }, "Tasks"),
      h("div", { class: "controls" }, h("div", { class: "field" }, h("label", { for: "state-filter" }, "State"), filter)),
      counts,
      h("div", { class: "scroll" }, h("table", { id: "tasks" }, h("caption", { class: "visually-hidden" }, "Task instances"),
        head("Task", "Job", "State", "Why pending / reason", "Host", "CPUs", "Memory (MiB)"), taskRows))),
    h("section", { "aria-labelledby": "agents-title" }, h("h2", { id: "agents-title" }, "Agents"),
      h("div", { class: "scroll" }, h("table", { id: "agents" }, h("caption", { class: "visually-hidden" }, "Agents (CPUs / memory MiB)"),
        head("Agent", "Total", "Incumbent", "Allocated", "Spare (offered)", "Tasks"), agentRows)),
      h("div", { class: "controls" }, reshuffle), outcome),
    h("section", { "aria-labelledby": "offers-title" }, h("h2", { id: "offers-title" }, "Latest offers"),
      h("div", { class: "scroll" }, h("table", { id: "offers" }, h("caption", { class: "visually-hidden" }, "Offers"),
        head("Received", "Agent", "CPUs", "Memory (MiB)", "Disk (MiB)"), offerRows))));
  ctx.trim(root);

  reshuffle.addEventListener("click", async () => {
    if (!confirm("Replace running copies sized by their measured usage?")) return;
    const before = new Map([...tasks.values()].map((t) => [t.id, t.state]));
    outcome.textContent = "reshuffling…";
    try {
      const answer = await api("/v1/reshuffle", { method: "POST", body: {} });
      outcome.textContent = `${answer.message} at ${when(Date.now() / 1000)}`;
      setTimeout(() => {
        const changed = [...tasks.values()].filter((t) => before.get(t.id) !== t.state).length;
        outcome.textContent += `: ${changed} instance${changed === 1 ? "" : "s"} changed state since`;
      }, 3000);
    } catch (error) {
      outcome.textContent = `refused: ${error.message}`;
    }
  });
  filter.addEventListener("change", renderTasks);

  function pair(a, b) { return a === undefined || a === null ? "–" : `${num(a)} / ${num(b, 0)}`; }

  function renderTasks() {
    const wanted = filter.value;
    const all = [...tasks.values()];
    const byState = {};
    for (const t of all) byState[t.state] = (byState[t.state] || 0) + 1;
    counts.textContent = `${all.length} instances: ${Object.entries(byState).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(", ") || "none"}`;
    const rows = all.filter((t) => wanted === "all" || t.state === wanted)
      .sort((a, b) => (a.state === "PENDING" ? 0 : 1) - (b.state === "PENDING" ? 0 : 1) || (b.updated_at || 0) - (a.updated_at || 0));
    taskRows.replaceChildren(...rows.slice(0, SHOWN).map((t) => h("tr", { "data-task": t.id, "data-state": t.state },
      h("th", { scope: "row" }, t.id), h("td", {}, t.name), h("td", {}, t.state),
      h("td", { class: t.state === "PENDING" ? "why" : "" }, t.reason || ""),
      h("td", {}, t.host || ""), h("td", {}, num(t.cpus)), h("td", {}, num(t.mem, 0)))));
    if (rows.length > SHOWN) taskRows.append(h("tr", {}, h("td", { colspan: 7 }, `… and ${rows.length - SHOWN} more`)));
  }

  function renderAgents() {
    const allocated = {};
    for (const t of tasks.values()) {
      if (!LIVE.has(t.state) || !t.agent_id) continue;
      const a = (allocated[t.agent_id] ||= { cpus: 0, mem: 0, n: 0 });
      a.cpus += t.cpus || 0; a.mem += t.mem || 0; a.n += 1;
    }
    const spare = {};
    for (const o of offers) if (!spare[o.agent_id]) spare[o.agent_id] = o;
    const rows = [...agents];
    const named = new Set(agents.map((a) => a.hostname));
    for (const node of Object.keys(sizes)) if (!named.has(node)) rows.push({ id: node, hostname: node });
    agentRows.replaceChildren(...rows.map((a) => {
      const s = sizes[a.hostname] || {};
      const used = allocated[a.id] || { cpus: 0, mem: 0, n: 0 };
      const o = spare[a.id];
      return h("tr", { "data-agent": a.id },
        h("th", { scope: "row" }, a.hostname || a.id),
        h("td", {}, pair(s.node_cpus, s.node_mem)), h("td", {}, pair(s.node_cpu_incumbent, s.node_mem_incumbent)),
        h("td", {}, pair(used.cpus, used.mem)), h("td", {}, o ? pair(o.cpus, o.mem) : "–"), h("td", {}, used.n));
    }));
    if (!offers.length) offerRows.replaceChildren(h("tr", {}, h("td", { colspan: 5 }, "none yet: the framework takes offers only while it has work waiting")));
    else offerRows.replaceChildren(...offers.slice(0, 20).map((o) => h("tr", {},
      h("td", {}, when(o.received_at)), h("th", { scope: "row" }, o.hostname || o.agent_id),
      h("td", {}, num(o.cpus)), h("td", {}, num(o.mem, 0)), h("td", {}, num(o.disk, 0)))));
  }

  function fromListing(t) {
    return { id: t.internal_id, submission_id: t.submission_id, name: t.id, state: t.state, reason: t.reason,
             host: t.hostname, agent_id: t.agent_id, cpus: t.cpus, mem: t.mem, updated_at: t.created_at };
  }

  async function load() {
    const names = ["node_cpus", "node_mem", "node_cpu_incumbent", "node_mem_incumbent"];
    const [list, agentList, offerList, ...metrics] = await Promise.all([
      api("/v1/tasks"), api("/v1/agents"), api("/v1/offers"),
      ...names.map((n) => api(`/v1/metrics?name=${n}&group_by=node&agg=last&from=-10m`))]);
    tasks.clear();
    for (const t of list.tasks) tasks.set(t.internal_id, fromListing(t));
    agents = agentList.agents;
    offers.splice(0, offers.length, ...offerList.offers);
    sizes = {};
    names.forEach((n, i) => { for (const s of metrics[i].series) (sizes[s.group.node] ||= {})[n] = s.value; });
    renderTasks();
    renderAgents();
  }

  let frame = null;
  function later() { if (!frame) frame = requestAnimationFrame(() => { frame = null; renderTasks(); renderAgents(); }); }

  await load();
  return {
    onEvent(kind, data) {
      if (kind === "task") { tasks.set(data.id, { ...tasks.get(data.id), ...data }); later(); }
      else if (kind === "offer") {
        offers.unshift(data); offers.length = Math.min(offers.length, 200);
        if (data.new_agent) load(); else later();
      } else if (kind === "metrics") {
        for (const p of data.points) if (p.node && p.name in { node_cpus: 1, node_mem: 1, node_cpu_incumbent: 1, node_mem_incumbent: 1 }) (sizes[p.node] ||= {})[p.name] = p.value;
      } else if (kind === "reset") load();
    },
  };
}
