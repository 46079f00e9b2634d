// GET /v1/events read with fetch (EventSource cannot send the Authorization header):
// events parsed as the SSE format says, the last id kept, and a dropped stream reconnected
// by itself with that id (the server replays what was missed, or says `reset`).

import { headers, signIn } from "./api.js";

export function connect(onEvent, onStatus) {
  let lastId = null;
  let stopped = false;
  let controller = null;
  let retry = 2000;

  async function once() {
    controller = new AbortController();
    const extra = lastId === null ? {} : { "Last-Event-ID": String(lastId) };
    const response = await fetch("/v1/events", { headers: headers(extra), signal: controller.signal });
    if (response.status === 401) { signIn(true); stopped = true; return; }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    onStatus("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        dispatch(block);
      }
    }
  }

  function dispatch(block) {
    let kind = "message", data = "", id = null;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") kind = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
      else if (field === "id") id = Number(value);
      else if (field === "retry") retry = Number(value) || retry;
    }
    if (id !== null) lastId = id;
    if (!data) return;
    onEvent(kind, JSON.parse(data));
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (error) {
        if (stopped) return;
      }
      if (stopped) return;
      onStatus("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retry));
    }
  })();

  return () => { stopped = true; controller?.abort(); };
}
