// Checks docs/openapi.yaml, then real exchanges with the daemon against it.
//
//   node validate.mjs SPEC EXCHANGES.json
//
// EXCHANGES.json (written by tests/netns/test_openapi.py):
//   {"exchanges": [{"method", "path", "query": {..}, "req_content_type", "req_body",
//                   "status", "content_type", "body"}],
//    "not_driven": [{"path", "method", "status", "why"}]}
//
// For every exchange:
// * the path must match a path template of the spec; otherwise the response must be the
//   NotFound response (404, Error body). A matched path without the method must answer
//   405 with components/responses/MethodNotAllowed.
// * the status must be declared for the operation, the Content-Type must be the declared
//   media type (none, and an empty body, when the spec declares no content), and the body
//   must match the declared schema (openapi-response-validator, i.e. Ajv).
// * the request is checked too (openapi-request-validator): a 2xx answer needs a request the
//   spec accepts; a 400 answer to a request with a body or query needs one the spec rejects.
// Then coverage: every declared (path, method, status) must have been seen at least once,
// except those listed in not_driven (each with a reason); and 404/405 for every path.
// Exits 1 on any failure, printing each; prints a summary either way.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import ResponseValidatorModule from "openapi-response-validator";
import RequestValidatorModule from "openapi-request-validator";
import YAML from "yaml";

const ResponseValidator = ResponseValidatorModule.default ?? ResponseValidatorModule;
const RequestValidator = RequestValidatorModule.default ?? RequestValidatorModule;

const [specPath, exchangesPath] = process.argv.slice(2);
if (!specPath || !exchangesPath) {
  console.error("usage: node validate.mjs SPEC EXCHANGES.json");
  process.exit(2);
}

const spec = YAML.parse(readFileSync(specPath, "utf8"));
const failures = [];
const fail = (what) => failures.push(what);

// 1. The document itself, against the OpenAPI 3.0 JSON schema.
const docCheck = await new Validator().validate(structuredClone(spec));
if (!docCheck.valid) {
  console.error(`${specPath} is not a valid OpenAPI document:`);
  console.error(JSON.stringify(docCheck.errors, null, 2));
  process.exit(1);
}

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const resolve = (obj) => {
  // Only local refs exist in our document.
  while (obj && obj.$ref) {
    obj = obj.$ref
      .slice(2)
      .split("/")
      .reduce((o, k) => o[k], spec);
  }
  return obj;
};

// Path templates as regexes; literal paths win over templated ones.
const templates = Object.keys(spec.paths).map((tpl) => {
  const names = [];
  const re = tpl.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_, n) => {
    names.push(n);
    return "([^/]+)";
  });
  return { tpl, re: new RegExp(`^${re}$`), names };
});
templates.sort((a, b) => a.names.length - b.names.length);
function match(path) {
  for (const t of templates) {
    const m = t.re.exec(path);
    if (m) return { tpl: t.tpl, params: Object.fromEntries(t.names.map((n, i) => [n, m[i + 1]])) };
  }
  return null;
}

const componentResponses = spec.components.responses;
const responseValidators = new Map();
function responseValidator(key, responses) {
  if (!responseValidators.has(key)) {
    const resolved = Object.fromEntries(
      Object.entries(responses).map(([code, r]) => [code, resolve(r)]),
    );
    responseValidators.set(
      key,
      new ResponseValidator({ responses: resolved, components: spec.components }),
    );
  }
  return responseValidators.get(key);
}

function checkResponse(label, key, responses, ex) {
  const declared = resolve(responses[String(ex.status)]);
  if (!declared) {
    fail(`${label}: status ${ex.status} is not declared (declared: ` +
         `${Object.keys(responses).join(", ")}); body ${ex.body.slice(0, 300)}`);
    return;
  }
  const media = Object.keys(declared.content ?? {});
  let body = null;
  if (media.length === 0) {
    if (ex.body !== "") {
      fail(`${label}: the spec declares no content, got ${ex.body.slice(0, 200)}`);
    }
  } else {
    if (!media.includes(ex.content_type)) {
      fail(`${label}: Content-Type ${ex.content_type}, the spec declares ${media.join(" | ")}`);
    }
    if (media[0].startsWith("application/json")) {
      try {
        body = JSON.parse(ex.body);
      } catch (e) {
        fail(`${label}: the body is not JSON (${e.message}): ${ex.body.slice(0, 200)}`);
        return;
      }
    } else {
      body = ex.body;
    }
  }
  const err = responseValidator(key, responses).validateResponse(ex.status, body);
  if (err) {
    fail(`${label}: the body does not match the spec: ${JSON.stringify(err.errors)}\n` +
         `    body: ${ex.body.slice(0, 600)}`);
  }
}

const requestValidators = new Map();
function requestErrors(key, pathItem, op, ex, params) {
  if (!requestValidators.has(key)) {
    const parameters = [...(pathItem.parameters ?? []), ...(op.parameters ?? [])].map(resolve);
    requestValidators.set(
      key,
      new RequestValidator({
        parameters,
        requestBody: op.requestBody ? resolve(op.requestBody) : undefined,
        componentSchemas: spec.components.schemas,
      }),
    );
  }
  let body = ex.req_body;
  if (body !== null && body !== undefined) {
    try {
      body = JSON.parse(body);
    } catch {
      // sent as is: not JSON, which a JSON schema rejects unless it accepts any string
    }
  }
  // A query string carries strings; read numbers as a server does (form style), so that
  // "123" is an integer and "soon" stays a string the schema rejects.
  const query = { ...(ex.query ?? {}) };
  for (const p of [...(pathItem.parameters ?? []), ...(op.parameters ?? [])].map(resolve)) {
    const type = resolve(p.schema)?.type;
    if (p.in === "query" && p.name in query && (type === "integer" || type === "number") &&
        /^-?\d+(\.\d+)?$/.test(query[p.name])) {
      query[p.name] = Number(query[p.name]);
    }
  }
  return requestValidators.get(key).validateRequest({
    headers: ex.req_content_type ? { "content-type": ex.req_content_type } : {},
    body,
    query,
    params,
  });
}

const seen = new Set();
const byStatus = new Map();
for (const [i, ex] of JSON.parse(readFileSync(exchangesPath, "utf8")).exchanges.entries()) {
  const label = `#${i} ${ex.method} ${ex.path}${Object.keys(ex.query ?? {}).length
    ? "?" + new URLSearchParams(ex.query) : ""} -> ${ex.status}`;
  byStatus.set(ex.status, (byStatus.get(ex.status) ?? 0) + 1);
  const m = match(ex.path);
  if (!m) {
    seen.add(`* ${ex.method} ${ex.status}`);
    if (ex.status !== 404) fail(`${label}: an undocumented path must answer 404`);
    checkResponse(label, "notfound", { 404: componentResponses.NotFound }, ex);
    continue;
  }
  const pathItem = spec.paths[m.tpl];
  const op = pathItem[ex.method.toLowerCase()];
  if (!op) {
    seen.add(`${m.tpl} * 405`);
    if (ex.status !== 405) fail(`${label}: a method the path does not list must answer 405`);
    checkResponse(label, "405", { 405: componentResponses.MethodNotAllowed }, ex);
    continue;
  }
  const key = `${m.tpl} ${ex.method.toUpperCase()}`;
  seen.add(`${key} ${ex.status}`);
  checkResponse(label, key, op.responses, ex);

  const reqErr = requestErrors(key, pathItem, op, ex, m.params);
  if (ex.status >= 200 && ex.status < 300 && reqErr) {
    fail(`${label}: the server accepted a request the spec rejects: ` +
         `${JSON.stringify(reqErr.errors)}`);
  }
  const hasInput = ex.req_body != null || Object.keys(ex.query ?? {}).length > 0;
  if (ex.status === 400 && hasInput && !reqErr) {
    fail(`${label}: the server refused as malformed a request the spec accepts: ` +
         `${ex.req_body?.slice(0, 200)}`);
  }
}

// Coverage: every declared response, 404 for an unknown path, 405 on every path.
const notDriven = JSON.parse(readFileSync(exchangesPath, "utf8")).not_driven ?? [];
const excused = new Set(notDriven.map((n) => `${n.path} ${n.method} ${n.status}`));
const declared = [];
for (const [tpl, item] of Object.entries(spec.paths)) {
  for (const method of METHODS.filter((x) => item[x])) {
    for (const status of Object.keys(item[method].responses)) {
      declared.push(`${tpl} ${method.toUpperCase()} ${status}`);
    }
  }
  declared.push(`${tpl} * 405`);
}
declared.push("* GET 404");
let covered = 0;
for (const d of declared) {
  if (seen.has(d)) {
    covered++;
    if (excused.has(d)) fail(`${d} is listed as not driven, but the test drove it`);
  } else if (!excused.has(d)) {
    fail(`${d}: declared but no exchange produced it`);
  }
}
for (const e of excused) {
  if (!declared.includes(e)) fail(`not_driven names ${e}, which the spec does not declare`);
}

const total = [...byStatus.values()].reduce((a, b) => a + b, 0);
const statuses = [...byStatus.entries()].sort(([a], [b]) => a - b)
  .map(([s, n]) => `${s}x${n}`).join(" ");
console.log(`openapi: document valid (OpenAPI ${docCheck.version ?? spec.openapi}); ` +
            `${total} responses checked (${statuses}); ` +
            `${covered}/${declared.length} declared responses seen, ${excused.size} not driven:`);
for (const n of notDriven) console.log(`  not driven: ${n.method} ${n.path} ${n.status}: ${n.why}`);
if (failures.length) {
  console.error(`openapi: ${failures.length} mismatch(es):`);
  for (const f of failures) console.error(`  - ${f}`);
  process.exit(1);
}
console.log("openapi: every response matches docs/openapi.yaml");
