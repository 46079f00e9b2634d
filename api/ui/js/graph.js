// Live graph (Jisto's user guide, 3.3): for the node picked, incumbent vs total CPU and
// memory (percent of the node), network and disk; beside it the cluster's averages. The
// history comes from the metrics store (GET /v1/metrics), so a reload loses nothing; live
// points from the event stream. berth's own limits on the node are the dashed line, and
// a drop in them (work given back to the node's own programs) is marked.

import uPlot from "../vendor/uPlot.esm.js";
import { api } from "./api.js";
import { h } from "./dom.js";

// Jisto's colour coding (3.3.1).
export const COLOURS = {
  cpuIncumbent: "#0b3d91", cpuTotal: "#5fa8e8", memIncumbent: "#c9a36b",
  memTotal: "#5b3413", net: "#1e8a3e", disk: "#c0392b", limit: "#555555", takeBack: "#e67e22",
};
const UNITS = { s: 1, m: 60, h: 3600 };
const CHARTS = [
  { id: "cpu", title: "CPU (% of the node)", percentOf: "node_cpus", limit: "cpu_limit", series: [
    ["node_cpu_incumbent", "incumbent CPU", COLOURS.cpuIncumbent],
    ["node_cpu_used", "total CPU", COLOURS.cpuTotal]] },
  { id: "mem", title: "Memory (% of the node)", percentOf: "node_mem", limit: "mem_limit", series: [
    ["node_mem_incumbent", "incumbent memory", COLOURS.memIncumbent],
    ["node_mem_used", "total memory", COLOURS.memTotal]] },
  { id: "net", title: "Network (bytes/s)", series: [
    ["node_net_in", "network in", COLOURS.net], ["node_net_out", "network out", COLOURS.net, [6, 4]]] },
  { id: "disk", title: "Disk I/O (bytes/s)", series: [
    ["node_disk_read", "disk read", COLOURS.disk], ["node_disk_write", "disk write", COLOURS.disk, [6, 4]]] },
];
const NAMES = CHARTS.flatMap((c) => c.series.map((s) => s[0]));

class Series {
  // One curve: time -> value, kept to the window.
  constructor() { this.points = new Map(); }
  set(t, v) { this.points.set(Math.round(t), v); }
  trim(from) { for (const t of this.points.keys()) if (t < from) this.points.delete(t); }
}

function store() {
  const s = {};
  for (const name of [...NAMES, "limit_cpu_limit", "limit_mem_limit"]) s[name] = new Series();
  return s;
}

export async function mount(root, ctx) {
  const state = { node: null, span: 600, sizes: {}, node$: store(), avg$: store(), plots: [],
                  lastLimit: {}, takeBacks: { cpu_limit: new Set(), mem_limit: new Set() }, dirty: false };
  const nodeSelect = h("select", { id: "node", name: "node" });
  const unit = h("select", { id: "unit", name: "unit" },
    h("option", { value: "s" }, "Seconds"), h("option", { value: "m", selected: true }, "Minutes"),
    h("option", { value: "h" }, "Hours"));
  const amount = h("input", { id: "amount", name: "amount", type: "range", min: 1, max: 60, value: 10 });
  const shown = h("output", { for: "amount unit", id: "window-shown" }, "10 minutes");
  const nodeCharts = h("div", { class: "charts", id: "node-charts" });
  const avgCharts = h("div", { class: "charts", id: "cluster-charts" });
  root.append(
    h("h1", {}, "Live graph"),
    h("div", { class: "controls" },
      h("div", { class: "field" }, h("label", { for: "node" }, "Live: node"), nodeSelect),
      h("div", { class: "field" }, h("label", { for: "unit" }, "Display"), unit),
      h("div", { class: "field grow" }, h("label", { for: "amount" }, "Window"), amount, shown)),
    h("div", { class: "graph-grid" },
      h("section", { "aria-labelledby": "node-title" }, h("h2", { id: "node-title" }, "Node"), nodeCharts),
      h("section", { "aria-labelledby": "avg-title" }, h("h2", { id: "avg-title" }, "Cluster average"), avgCharts)),
    legend());

  function legend() {
    return h("p", { class: "legend" }, "berth's limits: dashed grey; ",
      h("span", { class: "swatch take-back" }), " limits lowered (a take-back)");
  }

  function windowFrom() { return Date.now() / 1000 - state.span; }
  function step() { return Math.max(1, Math.round(state.span / 240)); }

  async function query(params) {
    const q = new URLSearchParams({ agg: "mean", from: `-${state.span}s`, step: `${step()}s`, ...params });
    return (await api(`/v1/metrics?${q}`)).series;
  }

  async function loadNodes() {
    const [sizes, agents] = await Promise.all([
      api(`/v1/metrics?name=node_cpus&group_by=node&agg=last&from=-1d`),
      api("/v1/agents").catch(() => ({ agents: [] }))]);
    const names = new Set(sizes.series.map((s) => s.group.node).filter(Boolean));
    for (const agent of agents.agents) if (agent.hostname) names.add(agent.hostname);
    const sorted = [...names].sort();
    nodeSelect.replaceChildren(...sorted.map((n) => h("option", { value: n }, n)));
    if (!state.node || !names.has(state.node)) state.node = sorted[0] || null;
    if (state.node) nodeSelect.value = state.node;
    const mem = await api(`/v1/metrics?name=node_mem&group_by=node&agg=last&from=-1d`);
    state.sizes = {};
    for (const s of sizes.series) state.sizes[`${s.group.node}/node_cpus`] = s.value;
    for (const s of mem.series) state.sizes[`${s.group.node}/node_mem`] = s.value;
  }

  function meanSize(what) {
    const values = Object.entries(state.sizes).filter(([k]) => k.endsWith(`/${what}`)).map(([, v]) => v);
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  }

  async function loadHistory() {
    state.node$ = store();
    state.avg$ = store();
    state.takeBacks = { cpu_limit: new Set(), mem_limit: new Set() };
    const jobs = [];
    for (const name of NAMES) {
      if (state.node) {
        jobs.push(query({ name, node: state.node }).then((series) => {
          for (const s of series) for (const [t, v] of s.points) state.node$[name].set(t, v);
        }));
      }
      jobs.push(query({ name }).then((series) => {
        for (const s of series) for (const [t, v] of s.points) state.avg$[name].set(t, v);
      }));
    }
    if (state.node) {
      for (const limit of ["cpu_limit", "mem_limit"]) {
        jobs.push(query({ name: limit, node: state.node, group_by: "instance" }).then((series) => {
          const sums = new Map();
          for (const s of series) for (const [t, v] of s.points) sums.set(t, (sums.get(t) || 0) + v);
          let before = null;
          for (const t of [...sums.keys()].sort((a, b) => a - b)) {
            state.node$[`limit_${limit}`].set(t, sums.get(t));
            if (before !== null && sums.get(t) < before * 0.95) state.takeBacks[limit].add(Math.round(t));
            before = sums.get(t);
          }
          state.lastLimit[limit] = before;
        }));
      }
    }
    await Promise.all(jobs);
  }

  function aligned(chart, series$, size) {
    const times = new Set();
    const curves = chart.series.map(([name]) => series$[name]);
    if (chart.limit && series$ === state.node$) curves.push(series$[`limit_${chart.limit}`]);
    for (const c of curves) for (const t of c.points.keys()) times.add(t);
    const xs = [...times].sort((a, b) => a - b);
    const scale = (v) => (v === undefined ? null : size ? (v / size) * 100 : v);
    const data = [xs, ...curves.map((c) => xs.map((t) => scale(c.points.get(t))))];
    if (chart.limit && series$ === state.node$) {
      const marks = state.takeBacks[chart.limit];
      const limitValues = data[data.length - 1];
      data.push(xs.map((t, i) => (marks.has(t) ? limitValues[i] : null)));
    }
    return data;
  }

  function options(chart, withLimit, width) {
    const series = [{}, ...chart.series.map(([, label, stroke, dash]) => ({
      label, stroke, width: 2, dash, spanGaps: true, points: { show: false } }))];
    if (withLimit) {
      series.push({ label: "berth's limit", stroke: COLOURS.limit, width: 1.5, dash: [4, 4], spanGaps: true, points: { show: false } });
      series.push({ label: "take-back", stroke: COLOURS.takeBack, width: 0, paths: () => null,
                    points: { show: true, size: 9, fill: COLOURS.takeBack, stroke: COLOURS.takeBack } });
    }
    return { title: chart.title, width, height: 170, series, scales: { x: { time: true } },
             axes: [{}, { size: 56 }], legend: { live: false } };
  }

  function draw() {
    for (const p of state.plots) p.plot.destroy();
    state.plots = [];
    nodeCharts.replaceChildren();
    avgCharts.replaceChildren();
    for (const chart of CHARTS) {
      for (const [where, series$, box] of [["node", state.node$, nodeCharts], ["avg", state.avg$, avgCharts]]) {
        const size = !chart.percentOf ? null
          : where === "node" ? state.sizes[`${state.node}/${chart.percentOf}`] : meanSize(chart.percentOf);
        const holder = h("div", { class: "chart", id: `${where}-${chart.id}`, role: "img",
          "aria-label": `${chart.title}, ${where === "node" ? state.node || "no node" : "cluster average"}` });
        box.append(holder);
        const withLimit = where === "node" && !!chart.limit;
        const data = aligned(chart, series$, size);
        const width = Math.max(240, holder.clientWidth - 12);
        const plot = new uPlot(options(chart, withLimit, width), data, holder);
        state.plots.push({ plot, chart, series$, where, size, holder });
        holder.dataset.points = String(data[0].length);
      }
    }
  }

  function refresh() {
    if (state.dirty) return;
    state.dirty = true;
    requestAnimationFrame(() => {
      state.dirty = false;
      const from = windowFrom();
      for (const s of [...Object.values(state.node$), ...Object.values(state.avg$)]) s.trim(from);
      for (const p of state.plots) {
        const data = aligned(p.chart, p.series$, p.size);
        p.plot.setData(data);
        p.holder.dataset.points = String(data[0].length);
        p.holder.dataset.last = String(data[0][data[0].length - 1] || "");
      }
    });
  }

  async function reload() {
    await loadNodes();
    await loadHistory();
    draw();
  }

  function setWindow() {
    const n = Number(amount.value);
    const names = { s: "seconds", m: "minutes", h: "hours" };
    shown.textContent = `${n} ${names[unit.value]}`;
    state.span = n * UNITS[unit.value];
  }

  nodeSelect.addEventListener("change", async () => { state.node = nodeSelect.value; await loadHistory(); draw(); });
  unit.addEventListener("change", async () => { setWindow(); await loadHistory(); draw(); });
  amount.addEventListener("input", setWindow);
  amount.addEventListener("change", async () => { setWindow(); await loadHistory(); draw(); });
  const onResize = () => { for (const p of state.plots) p.plot.setSize({ width: Math.max(240, p.holder.clientWidth - 12), height: 170 }); };
  window.addEventListener("resize", onResize);

  function newNodes(points) {
    // A node measured for the first time (berth just started): listed, and picked if none is.
    const known = new Set([...nodeSelect.options].map((o) => o.value));
    const fresh = [...new Set(points.map((p) => p.node).filter((n) => n && !known.has(n)))];
    for (const node of fresh) nodeSelect.append(h("option", { value: node }, node));
    if (fresh.length && !state.node) {
      state.node = fresh[0];
      nodeSelect.value = state.node;
      draw();
    }
  }

  function live(points) {
    newNodes(points);
    const byName = {};
    const limits = { cpu_limit: 0, mem_limit: 0 };
    let limitT = 0, sawLimit = false;
    for (const p of points) {
      if (p.name in limits) {
        if (p.node === state.node) { limits[p.name] += p.value; limitT = Math.max(limitT, p.t); sawLimit = true; }
        continue;
      }
      if (!(p.name in state.avg$)) {
        if (p.name === "node_cpus" || p.name === "node_mem") state.sizes[`${p.node}/${p.name}`] = p.value;
        continue;
      }
      if (p.node === state.node) state.node$[p.name].set(p.t, p.value);
      (byName[p.name] ||= []).push(p);
    }
    for (const [name, list] of Object.entries(byName)) {
      const t = Math.max(...list.map((p) => p.t));
      state.avg$[name].set(t, list.reduce((a, p) => a + p.value, 0) / list.length);
    }
    if (sawLimit) {
      for (const [name, sum] of Object.entries(limits)) {
        const before = state.lastLimit[name];
        state.node$[`limit_${name}`].set(limitT, sum);
        if (before !== undefined && before !== null && sum < before * 0.95) state.takeBacks[name].add(Math.round(limitT));
        state.lastLimit[name] = sum;
      }
    }
    refresh();
  }

  setWindow();
  await reload();
  return {
    onEvent(kind, data) {
      if (kind === "metrics") live(data.points);
      else if (kind === "reset") reload();
      else if (kind === "offer" && data.new_agent) loadNodes();
    },
    unmount() { window.removeEventListener("resize", onResize); for (const p of state.plots) p.plot.destroy(); },
  };
}
