// courier's API page: every operation of /openapi.json, its parameters, body and answers, and "Try it".
// No framework and no external asset: the page's CSP allows its own files and its own origin only.

const TOKEN_KEY = "courier.console.token"; // shared with the console: one token per tab
const $ = (selector) => document.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function resolve(doc, schema) {
  let found = schema || {};
  for (let hops = 0; found.$ref && hops < 20; hops++) {
    found = found.$ref.replace(/^#\//, "").split("/").reduce((at, key) => at?.[key], doc) || {};
  }
  return found;
}

// A plausible value for a schema: its example, default or first enum value, else one made from its type.
function example(doc, schema, depth = 0) {
  const s = resolve(doc, schema);
  if (depth > 6) return null;
  if (s.examples?.length) return s.examples[0];
  if (s.example !== undefined) return s.example;
  if (s.default !== undefined) return s.default;
  if (s.enum?.length) return s.enum[0];
  const choices = s.anyOf || s.oneOf;
  if (choices) {
    const chosen = choices.map((c) => resolve(doc, c)).find((c) => c.type !== "null") || {};
    return example(doc, chosen, depth + 1);
  }
  switch (s.type) {
    case "object": {
      const out = {};
      for (const [name, property] of Object.entries(s.properties || {})) {
        out[name] = example(doc, property, depth + 1);
      }
      return out;
    }
    case "array":
      return [example(doc, s.items, depth + 1)];
    case "integer":
    case "number":
      return s.minimum ?? 1;
    case "boolean":
      return false;
    case "string":
      if (s.format === "date-time") return new Date().toISOString();
      if (s.format === "uuid") return crypto.randomUUID();
      return s.minLength ? "x".repeat(s.minLength) : "string";
    default:
      return null;
  }
}

function describeType(doc, schema) {
  const s = resolve(doc, schema);
  const choices = s.anyOf || s.oneOf;
  if (choices) return choices.map((c) => describeType(doc, c)).join(" | ");
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.type === "array") return `array of ${describeType(doc, s.items)}`;
  return s.title || s.type || (schema?.$ref ? schema.$ref.split("/").pop() : "any");
}

function rules(doc, schema) {
  const s = resolve(doc, schema);
  const parts = [];
  if (s.minLength !== undefined) parts.push(`at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) parts.push(`at most ${s.maxLength} characters`);
  if (s.pattern) parts.push(`matches ${s.pattern}`);
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.description) parts.push(s.description);
  return parts.join("; ");
}

function fieldsTable(doc, schema) {
  const s = resolve(doc, schema);
  const required = new Set(s.required || []);
  const rows = Object.entries(s.properties || {}).map(([name, property]) =>
    el("tr", {},
      el("td", { class: "path", text: name + (required.has(name) ? " *" : "") }),
      el("td", { text: describeType(doc, property) }),
      el("td", { text: rules(doc, property) })));
  if (!rows.length) return el("p", { text: describeType(doc, schema) });
  return el("table", {}, el("tr", {}, el("th", { text: "field (* required)" }), el("th", { text: "type" }),
    el("th", { text: "rule" })), ...rows);
}

function group(path, operation) {
  if (path.startsWith("/api/")) return "versioned API: " + path.split("/").slice(0, 3).join("/");
  if (operation.operationId?.endsWith("_unversioned")) return "the seed's unversioned paths";
  return "operational";
}

function tryIt(doc, path, method, operation) {
  const parameters = (operation.parameters || []).filter((p) => ["path", "query", "header"].includes(p.in));
  const inputs = parameters.map((p) => {
    const input = el("input", { name: p.name, "data-in": p.in, placeholder: describeType(doc, p.schema) });
    if (p.in === "path") input.value = String(example(doc, p.schema) ?? "1");
    return el("tr", {}, el("td", { class: "path", text: `${p.name} (${p.in})` }), el("td", {}, input));
  });
  const json = operation.requestBody?.content?.["application/json"];
  const body = el("textarea", { "aria-label": "request body" });
  if (json) body.value = JSON.stringify(example(doc, json.schema), null, 2);
  const send = el("button", { type: "button", text: "Send" });
  const answer = el("div", { class: "answer" });
  send.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    const headers = {};
    for (const input of send.closest(".try").querySelectorAll("input[data-in]")) {
      const where = input.dataset.in;
      if (where === "path") url = url.replace(`{${input.name}}`, encodeURIComponent(input.value));
      else if (input.value && where === "query") query.set(input.name, input.value);
      else if (input.value && where === "header") headers[input.name] = input.value;
    }
    if (query.size) url += "?" + query;
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    const init = { method: method.toUpperCase(), headers };
    if (json) {
      headers["content-type"] = "application/json";
      init.body = body.value;
    }
    answer.replaceChildren(el("p", { text: `${init.method} ${url} …` }));
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON: as sent */ }
      const kept = ["content-type", "etag", "location", "retry-after", "allow", "idempotent-replayed"]
        .filter((name) => response.headers.has(name))
        .map((name) => `${name}: ${response.headers.get(name)}`).join("\n");
      answer.replaceChildren(
        el("p", { class: `status ${response.ok ? "ok" : "bad"}`, text: `${response.status} ${response.statusText}` }),
        ...(kept ? [el("pre", { class: "headers", text: kept })] : []),
        el("pre", { class: "response", text: shown || "(no body)" }));
    } catch (error) {
      answer.replaceChildren(el("p", { class: "status bad", text: `no answer: ${error.message}` }));
    }
  });
  return el("div", { class: "try" }, el("h4", { text: "Try it" }),
    ...(inputs.length ? [el("table", {}, ...inputs)] : []), ...(json ? [body] : []), send, answer);
}

function operationView(doc, path, method, operation) {
  const view = el("details", { class: "op", "data-search": `${method} ${path} ${operation.summary || ""}`.toLowerCase() },
    el("summary", {}, el("span", { class: `method ${method}`, text: method.toUpperCase() }),
      el("span", { class: "path", text: path }), el("span", { class: "summary", text: operation.summary || "" })));
  const inner = el("div", { class: "body" });
  const parameters = operation.parameters || [];
  if (parameters.length) {
    inner.append(el("h4", { text: "Parameters" }), el("table", {},
      el("tr", {}, el("th", { text: "name" }), el("th", { text: "in" }), el("th", { text: "type" }),
        el("th", { text: "about" })),
      ...parameters.map((p) => el("tr", {}, el("td", { class: "path", text: p.name + (p.required ? " *" : "") }),
        el("td", { text: p.in }), el("td", { text: describeType(doc, p.schema) }),
        el("td", { text: p.description || rules(doc, p.schema) })))));
  }
  const json = operation.requestBody?.content?.["application/json"];
  if (json) {
    inner.append(el("h4", { text: "Body" }), fieldsTable(doc, json.schema));
  }
  const responses = Object.entries(operation.responses || {});
  inner.append(el("h4", { text: "Answers" }), el("table", {},
    el("tr", {}, el("th", { text: "status" }), el("th", { text: "meaning" }), el("th", { text: "body" })),
    ...responses.map(([status, response]) => {
      const content = Object.entries(response.content || {})[0];
      return el("tr", {}, el("td", { text: status }), el("td", { text: response.description || "" }),
        el("td", { text: content ? `${content[0]}: ${describeType(doc, content[1].schema)}` : "" }));
    })));
  inner.append(tryIt(doc, path, method, operation));
  view.append(inner);
  return view;
}

async function main() {
  const token = $("#token");
  token.value = sessionStorage.getItem(TOKEN_KEY) || "";
  token.addEventListener("change", () => {
    if (token.value) sessionStorage.setItem(TOKEN_KEY, token.value);
    else sessionStorage.removeItem(TOKEN_KEY);
  });
  let doc;
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    doc = await response.json();
  } catch (error) {
    $("#about").textContent = `could not read /openapi.json: ${error.message}`;
    return;
  }
  $("#title").textContent = `${doc.info.title} API ${doc.info.version}`;
  $("#about").textContent = doc.info.description || "";
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const name = group(path, operation);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(operationView(doc, path, method, operation));
    }
  }
  const main = $("#operations");
  for (const [name, views] of groups) main.append(el("section", {}, el("h2", { text: name }), ...views));
  $("#filter").addEventListener("input", (event) => {
    const words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const view of main.querySelectorAll("details.op")) {
      view.classList.toggle("hidden", !words.every((w) => view.dataset.search.includes(w)));
    }
  });
  document.body.dataset.ready = String(main.querySelectorAll("details.op").length);
}

main();
