// Where the generated form puts each field. Only hints: a field named nowhere here still gets a control,
// chosen from its type, in the "More options" group.

export const TASK_LABELS = {
  txt2audio: "Text to music",
  audio2audio: "Restyle",
  edit: "Edit",
  extend: "Extend",
};

// Fields that take input audio: drop a file, paste a URL, or pick an output from history.
export const AUDIO_FIELDS = new Set(["audio", "style_audio"]);

// Multi-line text.
export const TEXT_AREAS = new Set(["lyrics", "edit_lyrics", "description"]);

// Groups, in order; each lists fields in the order shown. Fields not listed go to "more".
export const GROUPS = [
  {
    id: "main",
    label: null,
    fields: [
      "audio",
      "style_audio",
      "style_prompt",
      "edit_style_prompt",
      "lyrics",
      "edit_lyrics",
      "duration",
      "left_extend_duration",
      "right_extend_duration",
      "audio_cover_strength",
      "edit_n_min",
      "edit_n_max",
    ],
  },
  { id: "music", label: "Musical details", fields: ["bpm", "key_scale", "time_signature", "vocal_language"] },
  {
    id: "generation",
    label: "Generation",
    fields: ["seed", "infer_steps", "guidance_scale", "negative_style_prompt", "output_format"],
  },
  { id: "more", label: "More options", fields: [] },
];

// Fields a task type declares but does not use (the server echoes them and ignores a value).
export const UNUSED = { txt2audio: new Set(["style_audio"]) };

// What a finished task's output becomes in a new task: the action's task type and its audio field.
export const FOLLOW_UPS = [
  { action: "extend", label: "Extend", taskType: "extend", audioField: "audio" },
  { action: "edit", label: "Edit", taskType: "edit", audioField: "audio" },
  { action: "restyle", label: "Restyle", taskType: "audio2audio", audioField: "style_audio" },
];

export function groupOf(name) {
  const group = GROUPS.find((candidate) => candidate.fields.includes(name));
  return group ? group.id : "more";
}

export function orderOf(name) {
  for (const group of GROUPS) {
    const index = group.fields.indexOf(name);
    if (index >= 0) return index;
  }
  return 1000;
}
