// The task forms come from the API's own description (/openapi.json): every input field of every task
// type, with its type, default, bounds, choices and description. A field the server gains shows up in
// the studio without editing it; js/layout.js only says where fields go.

function resolve(document, schema) {
  let current = schema || {};
  while (current.$ref) {
    const path = current.$ref.replace(/^#\//, "").split("/");
    current = path.reduce((node, part) => node[part], document);
  }
  return current;
}

// A property's alternatives, less null: {type, enum, minimum, ...} of the first typed one, enums merged.
function describe(document, name, property, required) {
  const alternatives = (property.anyOf || property.oneOf || [property]).map((alt) => resolve(document, alt));
  const typed = alternatives.filter((alt) => alt.type !== "null");
  const choices = typed.find((alt) => Array.isArray(alt.enum));
  const main = typed.find((alt) => alt.type && alt.type !== "null" && !alt.enum) || choices || typed[0] || {};
  return {
    name,
    title: property.title || name.replace(/_/g, " "),
    type: (choices && choices.type) || main.type || "string",
    choices: choices ? choices.enum : null,
    default: property.default,
    description: property.description || "",
    required,
    minimum: main.minimum ?? main.exclusiveMinimum,
    maximum: main.maximum ?? main.exclusiveMaximum,
    maxLength: main.maxLength,
    unit: property["x-unit"] || null,
    rule: property["x-rule"] || null,
    examples: property.examples || main.examples || [],
  };
}

// {task_type: {description, fields: [field, ...]}} for every task type the create endpoint takes.
export function taskTypes(document) {
  const body = document.paths["/api/v1/task"].post.requestBody.content["application/json"].schema;
  const types = {};
  for (const option of body.oneOf || [body]) {
    const create = resolve(document, option);
    const taskType = create.properties.task_type.const;
    const input = resolve(document, create.properties.input);
    const required = new Set(input.required || []);
    types[taskType] = {
      description: input.description || create.description || "",
      fields: Object.entries(input.properties).map(([name, property]) =>
        describe(document, name, property, required.has(name)),
      ),
    };
  }
  return types;
}
