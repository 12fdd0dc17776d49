// The task form: controls generated from the schema's fields (js/schema.js) placed by js/layout.js.
// Values are kept per task type while the page is open, so switching type or a failed create loses
// nothing typed; only fields the user filled in are sent (the server applies its defaults to the rest).

import { AUDIO_FIELDS, GROUPS, TEXT_AREAS, UNUSED, groupOf, orderOf } from "./layout.js";

const MODEL = "Qubico/ace-step";

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export { element };

// Text with `code` spans, as the API's descriptions and messages write it, built as nodes (never HTML).
export function rich(tag, attributes, text) {
  const node = element(tag, attributes);
  String(text)
    .split("`")
    .forEach((part, index) => {
      if (part) node.append(index % 2 ? element("code", { text: part }) : document.createTextNode(part));
    });
  return node;
}

function hintText(field) {
  const parts = field.required ? ["Required."] : [];
  if (field.default !== undefined && field.default !== null && field.default !== "") {
    parts.push(`Default: ${field.default}${field.unit ? ` ${field.unit}` : ""}.`);
  }
  if (field.minimum !== undefined && field.maximum !== undefined) {
    parts.push(`${field.minimum} to ${field.maximum}${field.unit ? ` ${field.unit}` : ""}.`);
  }
  const description = field.description.replace(/^\[ext\]\s*/, "");
  if (description) parts.push(description);
  return parts.join(" ");
}

export class TaskForm {
  constructor(container, types, { onUploadFile, audioChoices }) {
    this.container = container;
    this.types = types;
    this.onUploadFile = onUploadFile;
    this.audioChoices = audioChoices; // () => [{label, url}] from history
    this.drafts = {}; // task type -> {field: string value}
    this.controls = new Map(); // field name -> {field, input, error}
    this.taskType = null;
  }

  fieldsOf(taskType) {
    const unused = UNUSED[taskType] || new Set();
    return this.types[taskType].fields
      .filter((field) => !unused.has(field.name))
      .sort((a, b) => orderOf(a.name) - orderOf(b.name));
  }

  show(taskType) {
    if (this.taskType) this.drafts[this.taskType] = this.values();
    this.taskType = taskType;
    this.render();
  }

  render() {
    const draft = this.drafts[this.taskType] || {};
    this.controls.clear();
    this.container.replaceChildren();
    const description = this.types[this.taskType].description.replace(/^`input` of an? `[^`]+` task:\s*/, "");
    this.container.append(rich("p", { class: "hint" }, description.charAt(0).toUpperCase() + description.slice(1)));
    for (const group of GROUPS) {
      const fields = this.fieldsOf(this.taskType).filter((field) => groupOf(field.name) === group.id);
      if (!fields.length) continue;
      // A group opens by itself when one of its fields holds a value (a prefilled seed is seen).
      const filled = fields.some((field) => (draft[field.name] ?? "") !== "");
      const holder = group.label
        ? element("details", { class: "group", "data-group": group.id, open: filled })
        : element("div", { class: "group", "data-group": group.id });
      if (group.label) holder.append(element("summary", { text: group.label }));
      for (const field of fields) holder.append(this.control(field, draft[field.name] ?? ""));
      this.container.append(holder);
    }
  }

  control(field, value) {
    const id = `field-${field.name}`;
    const hint = rich("p", { class: "hint", id: `${id}-hint` }, hintText(field));
    const error = element("p", { class: "error", id: `${id}-error`, role: "alert" });
    const described = `${id}-hint ${id}-error`;
    const label = element("label", { for: id, text: field.title });
    let input;
    let extra = null;
    if (field.choices || field.type === "boolean") {
      const choices = field.choices || [true, false];
      const defaultLabel = field.default === undefined || field.default === null ? "server default" : field.default;
      input = element("select", { id, name: field.name, "aria-describedby": described });
      input.append(element("option", { value: "", text: `(${defaultLabel})` }));
      for (const choice of choices) input.append(element("option", { value: String(choice), text: String(choice) }));
      input.value = value;
    } else if (TEXT_AREAS.has(field.name)) {
      input = element("textarea", {
        id,
        name: field.name,
        rows: field.name === "description" ? 2 : 4,
        placeholder: field.default ?? "",
        "aria-describedby": described,
        "aria-required": field.required,
      });
      input.value = value;
    } else {
      const numeric = field.type === "number" || field.type === "integer";
      input = element("input", {
        id,
        name: field.name,
        type: numeric ? "number" : AUDIO_FIELDS.has(field.name) ? "url" : "text",
        step: numeric ? (field.type === "integer" ? "1" : "any") : null,
        inputmode: numeric ? (field.type === "integer" ? "numeric" : "decimal") : null,
        placeholder:
          field.default !== undefined && field.default !== null && field.default !== ""
            ? String(field.default)
            : field.examples[0] ?? (AUDIO_FIELDS.has(field.name) ? "https://… or drop a file below" : ""),
        "aria-describedby": described,
        "aria-required": field.required,
        autocomplete: "off",
      });
      input.value = value;
      if (AUDIO_FIELDS.has(field.name)) extra = this.audioPicker(field, input);
    }
    input.addEventListener("input", () => this.clearError(field.name));
    input.addEventListener("change", () => this.clearError(field.name));
    this.controls.set(field.name, { field, input, error });
    return element("div", { class: "field", "data-field": field.name }, label, input, extra, hint, error);
  }

  audioPicker(field, input) {
    const id = `field-${field.name}`;
    const file = element("input", { type: "file", id: `${id}-file`, accept: "audio/*,.mp3,.wav,.flac,.ogg,.m4a" });
    const fileLabel = element("label", { for: `${id}-file`, class: "drop", text: "Drop an audio file here, or choose one" });
    const status = element("span", { class: "hint", role: "status", "aria-live": "polite" });
    const upload = async (chosen) => {
      if (!chosen) return;
      status.textContent = `Uploading ${chosen.name}…`;
      this.clearError(field.name);
      try {
        input.value = await this.onUploadFile(chosen);
        status.textContent = `Uploaded ${chosen.name}.`;
      } catch (error) {
        status.textContent = "";
        this.setError(field.name, error.message);
      }
    };
    file.addEventListener("change", () => upload(file.files[0]));
    for (const name of ["dragenter", "dragover"]) {
      fileLabel.addEventListener(name, (event) => {
        event.preventDefault();
        fileLabel.classList.add("over");
      });
    }
    fileLabel.addEventListener("dragleave", () => fileLabel.classList.remove("over"));
    fileLabel.addEventListener("drop", (event) => {
      event.preventDefault();
      fileLabel.classList.remove("over");
      upload(event.dataTransfer.files[0]);
    });
    const pick = element("select", { id: `${id}-history`, "aria-label": `${field.title} from history` });
    const fill = () => {
      pick.replaceChildren(element("option", { value: "", text: "…or pick an output from history" }));
      for (const choice of this.audioChoices()) pick.append(element("option", { value: choice.url, text: choice.label }));
    };
    fill();
    pick.addEventListener("focus", fill);
    pick.addEventListener("change", () => {
      if (pick.value) input.value = pick.value;
      this.clearError(field.name);
    });
    return element("div", { class: "audio-picker" }, fileLabel, file, pick, status);
  }

  // {field: string} of what is typed now.
  values() {
    const values = {};
    for (const [name, { input }] of this.controls) values[name] = input.value;
    return values;
  }

  // The create body: only fields with a value, converted to their type (a bad number goes as typed, so
  // the server names it).
  body() {
    const input = {};
    for (const [name, { field, input: control }] of this.controls) {
      const raw = control.value;
      if (raw === "" && !field.required) continue;
      if (field.type === "number" || field.type === "integer") {
        const number = Number(raw);
        input[name] = raw.trim() !== "" && Number.isFinite(number) ? number : raw;
      } else if (field.type === "boolean") {
        input[name] = raw === "true";
      } else if (field.choices && field.type !== "string") {
        input[name] = Number(raw);
      } else {
        input[name] = raw;
      }
    }
    return { model: MODEL, task_type: this.taskType, input };
  }

  // Fill in a new task (follow-ups, "again with this seed"); other fields keep what was typed.
  prefill(taskType, values) {
    if (this.taskType) this.drafts[this.taskType] = this.values();
    const draft = { ...(this.drafts[taskType] || {}) };
    const known = new Set(this.types[taskType].fields.map((field) => field.name));
    for (const [name, value] of Object.entries(values)) {
      if (known.has(name) && value !== null && value !== undefined) draft[name] = String(value);
    }
    this.drafts[taskType] = draft;
    this.taskType = taskType;
    this.render();
  }

  reset() {
    this.drafts[this.taskType] = {};
    this.render();
  }

  clearErrors() {
    for (const name of this.controls.keys()) this.clearError(name);
  }

  clearError(name) {
    const control = this.controls.get(name);
    if (!control) return;
    control.error.textContent = "";
    control.input.removeAttribute("aria-invalid");
  }

  // Show a message beside the field it names (`input.duration`): true when such a field is on the form.
  setError(path, message) {
    const name = (path || "").replace(/^input\./, "").split(".")[0];
    const control = this.controls.get(name);
    if (!control) return false;
    control.error.replaceChildren(...rich("span", {}, message).childNodes);
    control.input.setAttribute("aria-invalid", "true");
    const group = control.input.closest("details");
    if (group) group.open = true;
    control.input.focus();
    return true;
  }
}
