// Services (ConPaaS's dashboard): every `service` job with its instances running out of
// wanted; each links to its own page (#/services/NAME, service.js).

import { api } from "./api.js";
import { h, when } from "./dom.js";

export async function mount(root) {
  const rows = h("tbody");
  const jobs = new Map();
  root.append(h("h1", {}, "Services"),
    h("p", { class: "legend" }, "Each service job is a ConPaaS Generic service: its instances, code versions, scripts and volumes are on its page. Create one on the Jobs page (type service)."),
    h("div", { class: "scroll" }, h("table", {}, h("caption", { class: "visually-hidden" }, "Services"),
      h("thead", {}, h("tr", {}, ...["Service", "Created on", "Instances", "Status"].map((c) => h("th", { scope: "col" }, c)))),
      rows)));

  function render() {
    const list = [...jobs.values()].filter((j) => j.type === "service" && !j.charmander)
      .sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
    rows.replaceChildren(...list.map((j) => h("tr", { "data-service": j.name },
      h("th", { scope: "row" }, h("a", { href: `#/services/${encodeURIComponent(j.name)}` }, j.name)),
      h("td", {}, when(j.created_at)), h("td", {}, `${j.running} of ${j.desired}`),
      h("td", { class: `phase ${j.phase}`, title: j.reason || "" }, j.phase))));
    if (!list.length) rows.append(h("tr", {}, h("td", { colspan: 4 }, "No service jobs yet.")));
  }

  async function load() {
    const list = await api("/v1/jobs");
    jobs.clear();
    for (const j of list.jobs) jobs.set(j.name, j);
    render();
  }

  await load();
  return {
    onEvent(kind, data) {
      if (kind === "job") { jobs.set(data.name, { ...jobs.get(data.name), ...data }); render(); }
      else if (kind === "reset") load();
    },
  };
}
