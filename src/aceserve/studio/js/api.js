// The API as the studio calls it: the key in a header (never in a URL), the PiAPI envelope unwrapped,
// errors as ApiError with the server's message and the field it names.

const KEY_STORAGE = "aceserve.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    // Messages name their field first: "`input.duration` must be ...".
    const match = /^`([^`]+)`/.exec(message);
    this.field = match ? match[1] : null;
  }
}

export const keyStore = {
  get() {
    return localStorage.getItem(KEY_STORAGE) || "";
  },
  set(key) {
    localStorage.setItem(KEY_STORAGE, key);
  },
  clear() {
    localStorage.removeItem(KEY_STORAGE);
  },
};

function headers(extra = {}) {
  const key = keyStore.get();
  return key ? { "x-api-key": key, ...extra } : extra;
}

async function unwrap(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(response.status, `The server answered ${response.status} without a JSON body.`);
  }
  if (!response.ok || (body && body.code && body.code >= 400)) {
    throw new ApiError(response.status, (body && body.message) || `HTTP ${response.status}`);
  }
  return body.data;
}

export async function call(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "content-type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, { ...init, referrerPolicy: "no-referrer", cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, `The server could not be reached (${error.message}).`);
  }
  return unwrap(response);
}

export const api = {
  accountInfo: () => call("GET", "/account/info"),
  activeTasks: () => call("GET", "/account/active_tasks"),
  createTask: (body) => call("POST", "/api/v1/task", body),
  getTask: (id) => call("GET", `/api/v1/task/${encodeURIComponent(id)}`),
  cancelTask: (id) => call("DELETE", `/api/v1/task/${encodeURIComponent(id)}`),
  history: (page, size) => call("GET", `/api/open/tasks/histories?page=${page}&page_size=${size}`),
  upload: (fileName, dataUri) => call("POST", "/api/ephemeral_resource", { file_name: fileName, file_data: dataUri }),
  openapi: async () => {
    const response = await fetch("/openapi.json", { cache: "no-store" });
    if (!response.ok) throw new ApiError(response.status, "The API description (/openapi.json) could not be read.");
    return response.json();
  },
};

// Follow a task's event stream (GET /api/v1/task/{id}/events). EventSource cannot send the key in a
// header, so the stream is read with fetch. onTask gets every task object; the promise resolves with
// the final one. Reconnects with Last-Event-ID after a dropped connection; stop() hangs up.
export function followTask(taskId, onTask) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;

  async function once() {
    const extra = lastId ? { "Last-Event-ID": lastId } : {};
    const response = await fetch(`/api/v1/task/${encodeURIComponent(taskId)}/events`, {
      headers: headers({ accept: "text/event-stream", ...extra }),
      signal: controller.signal,
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    if (response.status === 204) return { ended: true, task: null };
    if (!response.ok) await unwrap(response);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { name: "message", id: null, data: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { ended: false, task: null };
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line === "") {
          if (event.data) {
            if (event.id) lastId = event.id;
            const task = JSON.parse(event.data);
            onTask(task);
            if (event.name === "end") return { ended: true, task };
          }
          event = { name: "message", id: null, data: "" };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event.name = text;
          else if (field === "id") event.id = text;
          else if (field === "data") event.data = event.data ? `${event.data}\n${text}` : text;
        }
      }
    }
  }

  const done = (async () => {
    let delay = 500;
    while (!stopped) {
      try {
        const result = await once();
        if (result.ended) return result.task;
      } catch (error) {
        if (stopped || error.name === "AbortError") return null;
        if (error instanceof ApiError && error.status && error.status !== 429 && error.status < 500) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
    return null;
  })();

  return {
    done,
    stop() {
      stopped = true;
      controller.abort();
    },
  };
}
