// Images (Jisto's Manage Images, 3.1): upload a template (a progress bar while it is
// sent, then a spinner while it builds, then its outcome: all live from the event
// stream's `image` events), its build log, load an image by name (pull: offline, the
// API's 502 naming the registry is shown), delete with confirmation.

import { api, headers, signIn } from "./api.js";
import { h, ok, showErrors, when } from "./dom.js";

function size(bytes) {
  if (!bytes) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
  return `${bytes.toFixed(i ? 1 : 0)}${units[i]}`;
}

const quoted = (name) => encodeURIComponent(name);

// XMLHttpRequest, not fetch: only it reports how much of a request body was sent.
function send(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [key, value] of Object.entries(headers())) xhr.setRequestHeader(key, value);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = { message: xhr.responseText }; }
      if (xhr.status === 401) { signIn(true); reject(Object.assign(new Error("session expired"), { status: 401, errors: [] })); }
      else if (xhr.status >= 400) reject(Object.assign(new Error(data?.message || `HTTP ${xhr.status}`), { status: xhr.status, errors: data?.errors || [] }));
      else resolve(data);
    };
    xhr.onerror = () => reject(Object.assign(new Error("the upload did not reach berth"), { errors: [] }));
    xhr.send(form);
  });
}

export async function mount(root, ctx) {
  const images = new Map();
  const rows = h("tbody");
  const bar = h("progress", { id: "upload-progress", max: 100, value: 0, hidden: true, "aria-label": "upload progress" });
  const upload = h("form", { class: "card", id: "upload", "data-needs": "write", novalidate: true },
    h("h2", {}, "Upload an image template"),
    h("div", { class: "field", "data-field": "files[]" },
      h("label", { for: "image-file" }, "Template (tar.gz with config.json)"),
      h("input", { id: "image-file", name: "file", type: "file", accept: ".tar.gz,.tgz,application/gzip" })),
    h("div", { "data-field": "archive" }), h("div", { "data-field": "config.json" }),
    bar, h("p", { class: "form-message", role: "alert" }),
    h("button", { type: "submit" }, "Upload"));
  const pull = h("form", { class: "card", id: "pull", "data-needs": "write", novalidate: true },
    h("h2", {}, "Load an image by name"),
    h("div", { class: "field", "data-field": "imageName" },
      h("label", { for: "pull-name" }, "Image (e.g. hello-world:latest)"),
      h("input", { id: "pull-name", name: "name" })),
    h("p", { class: "form-message", role: "alert" }),
    h("button", { type: "submit" }, "Load"));
  const logTitle = h("h2", {}, "Build log");
  const log = h("pre", { class: "log", id: "image-log", role: "log", tabindex: 0, "aria-label": "Build log" }, "Pick an image's log.");
  root.append(h("h1", {}, "Images"),
    h("div", { class: "scroll" }, h("table", { class: "images" }, h("caption", { class: "visually-hidden" }, "Images"),
      h("thead", {}, h("tr", {}, ...["Name", "State", "Origin", "Size", "Created", "Reason", "Actions"]
        .map((c) => h("th", { scope: "col" }, c)))), rows)),
    h("div", { class: "graph-grid" }, upload, pull), logTitle, log);
  ctx.trim(root);

  upload.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = upload.file.files[0];
    if (!file) { showErrors(upload, { message: "", errors: [{ field: "files[]", problem: "pick the template's tar.gz" }] }); return; }
    const body = new FormData();
    body.append("contentType", "images");
    body.append("files[]", file, file.name);
    bar.hidden = false; bar.value = 0;
    try {
      const image = await send("/upload", body, (part) => { bar.value = Math.round(100 * part); });
      bar.value = 100;
      showErrors(upload, null);
      ok(upload).textContent = `${image.name} uploaded: building`;
      upload.reset();
      images.set(image.name, image);
      render();
    } catch (error) {
      bar.hidden = true;
      showErrors(upload, error);
    }
  });

  pull.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = pull.name.value.trim();
    try {
      const image = await api(`/pullImage/${quoted(name)}`, { method: "POST", body: {} });
      showErrors(pull, null);
      ok(pull).textContent = `loading ${image.name}`;
      images.set(image.name, image);
      render();
    } catch (error) {
      showErrors(pull, error);
    }
  });

  async function showLog(name) {
    logTitle.textContent = `Build log: ${name}`;
    const response = await fetch(`/v1/images/${quoted(name)}/log`, { headers: headers() });
    if (response.status === 401) { signIn(true); return; }
    log.textContent = (await response.text()) || "(empty)";
  }

  async function remove(image) {
    if (!confirm(`Delete image ${image.name}?`)) return;
    try {
      await api(`/deleteImage/${quoted(image.name)}`, { method: "POST", body: {} });
      images.delete(image.name);
      render();
    } catch (error) { alert(error.message); }
  }

  function row(image) {
    const building = image.state === "building";
    const actions = h("td", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => showLog(image.name) }, "Log"));
    if (ctx.allowed("write") && !building) {
      actions.append(h("button", { type: "button", class: "danger", onclick: () => remove(image) }, "Delete"));
    }
    return h("tr", { "data-image": image.name, "data-state": image.state },
      h("th", { scope: "row" }, image.name),
      h("td", { class: `phase ${image.state}` }, building ? h("span", { class: "spinner", role: "img", "aria-label": "building" }) : "", ` ${image.state}`),
      h("td", {}, image.origin), h("td", {}, size(image.size)), h("td", {}, when(image.created)),
      h("td", { class: "why" }, image.reason || ""), actions);
  }

  function render() {
    const sorted = [...images.values()].sort((a, b) => (b.created || 0) - (a.created || 0));
    rows.replaceChildren(...sorted.map(row));
    if (!sorted.length) rows.append(h("tr", {}, h("td", { colspan: 7 }, "No images yet.")));
  }

  async function load() {
    const list = await api("/v1/images");
    images.clear();
    for (const image of list.images) images.set(image.name, image);
    render();
  }

  await load();
  return {
    onEvent(kind, data) {
      if (kind === "image") {
        if (data.deleted) images.delete(data.name); else images.set(data.name, data);
        render();
        if (!data.deleted && data.state !== "building" && logTitle.textContent.endsWith(`: ${data.name}`)) showLog(data.name);
      } else if (kind === "reset") load();
    },
  };
}
