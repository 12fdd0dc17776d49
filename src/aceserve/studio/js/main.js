// The studio: key and account, the task form, live task cards, history. Everything goes through the
// public API with the key in a header.

import { ApiError, api, followTask, keyStore } from "./api.js";
import { TaskForm, element } from "./form.js";
import { FOLLOW_UPS, TASK_LABELS } from "./layout.js";
import { player } from "./player.js";
import { taskTypes } from "./schema.js";

const HISTORY_PAGE_SIZE = 10;
const $ = (id) => document.getElementById(id);

const state = {
  form: null,
  types: {},
  cards: new Map(), // task id -> {node, follow, task} in the Tasks panel
  known: new Map(), // task id -> latest task object seen anywhere
  historyPage: 1,
};

// --- key and account --------------------------------------------------------------------------------

function setKeyStatus(text, isError = false) {
  $("key-status").textContent = text;
  $("key-status").classList.toggle("error", isError);
}

async function refreshAccount() {
  if (!keyStore.get()) {
    $("account-facts").hidden = true;
    return false;
  }
  try {
    const [info, active] = await Promise.all([api.accountInfo(), api.activeTasks()]);
    $("account-name").textContent = info.name;
    $("account-credit").textContent = info.unlimited_credit
      ? "unlimited"
      : `$${info.equivalent_in_usd.toFixed(4)} available, $${info.frozen_in_usd.toFixed(4)} held by running tasks`;
    const counts = active.ace_step;
    $("account-active").textContent =
      `${counts.active_tasks} (${counts.processing_count} running, ${counts.pending_count} waiting, ` +
      `${counts.staged_count} staged) of ${info.max_concurrent_task_count} at once`;
    $("account-facts").hidden = false;
    setKeyStatus("Key accepted. It is kept in this browser only.");
    return true;
  } catch (error) {
    $("account-facts").hidden = true;
    setKeyStatus(error.message, true);
    return false;
  }
}

function setupKey() {
  $("api-key").value = keyStore.get();
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) {
      setKeyStatus("Enter a key first.", true);
      return;
    }
    keyStore.set(key);
    if (await refreshAccount()) loadHistory(1);
  });
  $("forget-key").addEventListener("click", () => {
    keyStore.clear();
    $("api-key").value = "";
    $("account-facts").hidden = true;
    setKeyStatus("Key forgotten by this browser.");
  });
}

// --- task cards --------------------------------------------------------------------------------------

function summary(task) {
  const input = task.input || {};
  const text = input.style_prompt || input.edit_style_prompt || input.description || "";
  return text.length > 90 ? `${text.slice(0, 87)}…` : text;
}

function seconds(task) {
  const input = task.input || {};
  const value = task.meta.duration ?? input.duration;
  if (task.task_type === "extend") {
    const added = (input.left_extend_duration || 0) + (input.right_extend_duration || 0);
    return added ? `+${added} s` : "";
  }
  return typeof value === "number" ? `${Math.round(value * 10) / 10} s` : "";
}

function statusLine(task) {
  const meta = task.meta || {};
  switch (task.status) {
    case "pending":
      return meta.queue_position ? `Waiting: position ${meta.queue_position} in the queue` : "Waiting for a worker";
    case "staged":
      return "Held: the account's other tasks run first";
    case "processing":
      return `Running: ${Math.round((meta.progress || 0) * 100)}%`;
    case "completed":
      return "Completed";
    default:
      return task.error && task.error.code === 499 ? "Cancelled" : `Failed: ${(task.error && task.error.message) || ""}`;
  }
}

function followUp(task, kind) {
  const input = task.input || {};
  if (kind === "seed") {
    state.form.prefill(task.task_type, { ...input, seed: task.meta.seed });
  } else {
    const plan = FOLLOW_UPS.find((candidate) => candidate.action === kind);
    state.form.prefill(plan.taskType, {
      [plan.audioField]: task.output.audio_url,
      style_prompt: input.style_prompt,
      lyrics: input.lyrics,
    });
  }
  selectTab(state.form.taskType, { focus: false });
  const first = document.querySelector("#fields input, #fields textarea, #fields select");
  $("compose").scrollIntoView({ block: "start" });
  if (first) first.focus();
}

function renderCard(node, task) {
  // Redraw only when the task changed state (a playing player stays as it is).
  const shown = `${task.status}:${task.meta.progress}:${task.meta.queue_position}`;
  if (node.dataset.rendered === shown) return;
  node.dataset.rendered = shown;
  node.dataset.status = task.status;
  node.dataset.taskType = task.task_type;
  const heading = element(
    "h3",
    {},
    element("span", { class: "badge", text: TASK_LABELS[task.task_type] || task.task_type }),
    ` ${summary(task) || "(no prompt)"}`,
  );
  const facts = element("p", { class: "facts-line" });
  const when = task.meta.created_at ? new Date(task.meta.created_at).toLocaleString() : "";
  facts.textContent = [seconds(task), when, task.meta.seed !== undefined ? `seed ${task.meta.seed}` : ""]
    .filter(Boolean)
    .join(" · ");
  const status = element("p", { class: "status", role: "status", "aria-live": "polite", text: statusLine(task) });
  const children = [heading, facts, status];
  if (task.status === "processing" || task.status === "pending" || task.status === "staged") {
    const progress = element("progress", {
      max: "1",
      value: String(task.meta.progress || 0),
      "aria-label": `Progress of task ${task.task_id}`,
    });
    const cancel = element("button", { type: "button", class: "cancel", text: "Cancel" });
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        await api.cancelTask(task.task_id);
        status.textContent = "Cancelling…";
      } catch (error) {
        status.textContent = error.message;
        cancel.disabled = false;
      }
    });
    children.push(progress, element("div", { class: "row" }, cancel));
  }
  if (task.status === "completed" && task.output && task.output.audio_url) {
    children.push(player(task.output.audio_url, { title: summary(task) || task.task_id }));
    const actions = element("div", { class: "row actions" });
    const again = element("button", { type: "button", "data-action": "seed", text: "Again with this seed" });
    again.addEventListener("click", () => followUp(task, "seed"));
    actions.append(again);
    for (const plan of FOLLOW_UPS) {
      const button = element("button", { type: "button", "data-action": plan.action, text: plan.label });
      button.addEventListener("click", () => followUp(task, plan.action));
      actions.append(button);
    }
    children.push(actions);
  }
  node.replaceChildren(...children);
}

function remember(task) {
  state.known.set(task.task_id, task);
}

function watch(task, node) {
  const follow = followTask(task.task_id, (fresh) => {
    remember(fresh);
    renderCard(node, fresh);
  });
  follow.done
    .then(async (final) => {
      const last = final || (await api.getTask(task.task_id));
      remember(last);
      renderCard(node, last);
      refreshAccount();
      loadHistory(state.historyPage);
    })
    .catch((error) => {
      node.querySelector(".status").textContent = error.message;
    });
  return follow;
}

function addLiveCard(task) {
  $("tasks-empty").hidden = true;
  const node = element("li", { class: "card", id: `task-${task.task_id}` });
  renderCard(node, task);
  $("task-list").prepend(node);
  state.cards.set(task.task_id, { node, follow: watch(task, node) });
}

// --- the form ----------------------------------------------------------------------------------------

function selectTab(taskType, { focus = true } = {}) {
  for (const tab of $("task-tabs").querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.taskType === taskType;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  if (state.form.taskType !== taskType) state.form.show(taskType);
  $("submit-task").textContent = `Create ${TASK_LABELS[taskType] ? TASK_LABELS[taskType].toLowerCase() : taskType}`;
  $("form-error").textContent = "";
}

function setupTabs() {
  const tabs = $("task-tabs");
  const names = Object.keys(state.types);
  for (const name of names) {
    const tab = element("button", {
      type: "button",
      role: "tab",
      id: `tab-${name}`,
      "data-task-type": name,
      "aria-controls": "task-form",
      text: TASK_LABELS[name] || name,
    });
    tab.addEventListener("click", () => selectTab(name));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = names[(names.indexOf(name) + step + names.length) % names.length];
      selectTab(next);
    });
    tabs.append(tab);
  }
  $("task-form").setAttribute("aria-labelledby", "compose-title");
}

function fileAsDataUri(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`${file.name} could not be read.`));
    reader.readAsDataURL(file);
  });
}

async function uploadFile(file) {
  const uploaded = await api.upload(file.name, await fileAsDataUri(file));
  return uploaded.url;
}

function audioChoices() {
  return [...state.known.values()]
    .filter((task) => task.status === "completed" && task.output && task.output.audio_url)
    .map((task) => ({
      url: task.output.audio_url,
      label: `${TASK_LABELS[task.task_type] || task.task_type}: ${summary(task) || task.task_id} (${seconds(task)})`,
    }));
}

function setupForm() {
  state.form = new TaskForm($("fields"), state.types, { onUploadFile: uploadFile, audioChoices });
  setupTabs();
  selectTab(Object.keys(state.types)[0], { focus: false });
  $("reset-form").addEventListener("click", () => state.form.reset());
  $("task-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.form.clearErrors();
    $("form-error").textContent = "";
    if (!keyStore.get()) {
      $("form-error").textContent = "Enter your API key above first.";
      $("api-key").focus();
      return;
    }
    const button = $("submit-task");
    button.disabled = true;
    try {
      const task = await api.createTask(state.form.body());
      remember(task);
      addLiveCard(task);
      refreshAccount();
    } catch (error) {
      const shown = error instanceof ApiError && error.field && state.form.setError(error.field, error.message);
      if (!shown) $("form-error").textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });
}

// --- history -----------------------------------------------------------------------------------------

async function loadHistory(page) {
  if (!keyStore.get()) return;
  const list = $("history-list");
  try {
    const result = await api.history(page, HISTORY_PAGE_SIZE);
    state.historyPage = page;
    const pages = Math.max(1, Math.ceil(result.total / HISTORY_PAGE_SIZE));
    $("history-page").textContent = `Page ${page} of ${pages} (${result.total} tasks)`;
    $("history-prev").disabled = page <= 1;
    $("history-next").disabled = page >= pages;
    const tasks = await Promise.all(result.data.map((row) => api.getTask(row.task_id)));
    list.replaceChildren();
    for (const task of tasks) {
      remember(task);
      const node = element("li", { class: "card", id: `history-${task.task_id}` });
      renderCard(node, task);
      list.append(node);
    }
  } catch (error) {
    $("history-page").textContent = error.message;
  }
}

function setupHistory() {
  $("history-refresh").addEventListener("click", () => loadHistory(state.historyPage));
  $("history-prev").addEventListener("click", () => loadHistory(state.historyPage - 1));
  $("history-next").addEventListener("click", () => loadHistory(state.historyPage + 1));
}

// --- start -------------------------------------------------------------------------------------------

async function start() {
  setupKey();
  setupHistory();
  try {
    state.types = taskTypes(await api.openapi());
  } catch (error) {
    $("form-error").textContent = error.message;
    return;
  }
  setupForm();
  document.body.dataset.ready = "true";
  if (await refreshAccount()) loadHistory(1);
}

start();
