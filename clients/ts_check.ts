// The generated TypeScript types (openapi-typescript) with openapi-fetch against
// `serve --demo` (scripts/client-check.sh): type-checked by `tsc --strict` first, then run.
// The README's own grant example must type-check as a request body.

import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type ApiError = components["schemas"]["Error"];

// The two things of Node's `process` used here (without @types/node).
declare const process: { argv: string[]; exit(code: number): never };

const base = process.argv[2];
const client = createClient<paths>({ baseUrl: base, headers: { Authorization: "Bearer cg_demo_key" } });

function check(ok: boolean, what: string): void {
  if (!ok) {
    throw new Error(what);
  }
}

function expectError(error: ApiError | undefined, response: Response, status: number, code: string): void {
  check(response.status === status, `${code}: status ${response.status}, not ${status}`);
  check(error?.error.code === code, `expected ${code}, got ${JSON.stringify(error)}`);
}

async function main(): Promise<void> {
  const providers = await client.GET("/v1/providers");
  check(providers.data?.data.length === 6, `providers: ${JSON.stringify(providers.error)}`);

  // A walk of an alias's grants, two at a time: each grant once.
  const seen: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const { data, error } = await client.GET("/v1/credit_grants", {
      params: { query: { customer: "acme", limit: 2, cursor } },
    });
    check(data !== undefined, `walk: ${JSON.stringify(error)}`);
    seen.push(...data!.data.map((grant) => grant.id));
    if (!data!.has_more) {
      break;
    }
    cursor = data!.next_cursor ?? undefined;
  }
  check(seen.length > 2 && new Set(seen).size === seen.length, `walk: ${seen}`);

  // The README's example body, a write and its replay.
  const body = { customer: "stripe:cus_sim000000", amount: { value: "25.00", unit: "USD" }, name: "Welcome credits" };
  const key = `ts-check-${Date.now()}`;
  const first = await client.POST("/v1/credit_grants", { params: { header: { "Idempotency-Key": key } }, body });
  check(first.data?.object === "credit_grant", `write: ${JSON.stringify(first.error)}`);
  const again = await client.POST("/v1/credit_grants", { params: { header: { "Idempotency-Key": key } }, body });
  check(again.response.headers.get("idempotent-replayed") === "true", "replay");
  check(again.data?.id === first.data?.id, "the replay answers the same grant");

  // Errors through the typed methods, each the one Error type (statically).
  const other = { ...body, amount: { value: "26.00", unit: "USD" } };
  const reused = await client.POST("/v1/credit_grants", { params: { header: { "Idempotency-Key": key } }, body: other });
  expectError(reused.error, reused.response, 409, "idempotency_key_reused");
  const stranger = createClient<paths>({ baseUrl: base, headers: { Authorization: "Bearer not-a-key" } });
  const refused = await stranger.GET("/v1/providers");
  expectError(refused.error, refused.response, 401, "invalid_api_key");
  const unknown = await client.GET("/v1/credit_grants", { params: { query: { customer: "nobody" } } });
  expectError(unknown.error, unknown.response, 400, "unknown_customer");
  const missing = await client.GET("/v1/credit_grants/{id}", { params: { path: { id: "stripe:credgr_nothing" } } });
  expectError(missing.error, missing.response, 404, "grant_not_found");
  const unsupported = await client.GET("/v1/credit_grants", { params: { query: { provider: "vayu" } } });
  expectError(unsupported.error, unsupported.response, 501, "unsupported_by_provider");

  // Every error code a client can get (clients/error_cases.json), through openapi-fetch,
  // each answer the Error type of the operation's documented status.
  const typed = await runErrorCases(process.argv[3], process.argv[4]);
  console.log(
    `typescript client: ok (${seen.length} grants walked, a write replayed, ${typed.checked} error codes typed; ` +
      `${typed.raw} sent on a raw socket are the Python check's)`,
  );
}

type ErrorCase = {
  code: string;
  status: number;
  gateway: string;
  key: string;
  op: string | null;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  body_bytes?: number;
  body_sequence?: string[];
  repeat?: number;
  concurrent?: number;
  raw?: string;
};
type Faulty = {
  bases: Record<string, string>;
  keys: Record<string, string>;
  customers: Record<string, string>;
  narrow_lago: string;
  stripe_webhook_secret: string;
};
type Document = { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };

/** An answer's body is the contract's Error, field by field. */
function isApiError(body: unknown): body is ApiError {
  const error = (body as ApiError | undefined)?.error;
  return (
    typeof error?.code === "string" &&
    typeof error.type === "string" &&
    typeof error.message === "string" &&
    typeof error.request_id === "string"
  );
}

async function stripeSignature(secret: string, stamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${stamp}.${body}`)));
  return `t=${stamp},v1=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function runErrorCases(casesPath: string, faultyPath: string): Promise<{ checked: number; raw: number }> {
  const json = async (path: string) => (await import(path, { with: { type: "json" } })).default;
  const cases: { cases: ErrorCase[] } = await json(casesPath);
  const faulty: Faulty = await json(faultyPath);
  const document: Document = await (await fetch(`${base}/openapi.json`)).json();
  const fill = (text: string) =>
    text.replace(/\{(\w+)\}/g, (whole, name: string) => faulty.customers[name] ?? (name === "narrow_lago" ? faulty.narrow_lago : whole));
  const tokens: Record<string, string | undefined> = { demo: "cg_demo_key", none: undefined, bad: "not-a-key", ...faulty.keys };
  let checked = 0;
  let raw = 0;
  for (const c of cases.cases) {
    if (c.raw === "body_never_sent") {
      raw += 1;
      continue;
    }
    const gateway = c.gateway === "demo" ? base : faulty.bases[c.gateway];
    const token = tokens[c.key];
    const typedClient = createClient<paths>({ baseUrl: gateway, headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const method = (c.method ?? c.op?.split(" ")[0] ?? "GET").toUpperCase();
    const [path, query] = fill(c.path).split("?");
    const bodies = c.body_sequence ?? [c.body !== undefined ? fill(c.body) : "a".repeat(c.body_bytes ?? 0)];
    const send = async (body: string) => {
      const headers: Record<string, string> = { ...(c.headers ?? {}) };
      if (c.raw === "stripe_signed_an_hour_ago") {
        headers["Stripe-Signature"] = await stripeSignature(faulty.stripe_webhook_secret, Math.floor(Date.now() / 1000) - 3600, body);
      }
      // Any method and path of the case, through openapi-fetch's one generic call.
      const request = typedClient.request as unknown as (
        method: string,
        url: string,
        init: { headers: Record<string, string>; body?: string; bodySerializer: (b: string) => string; querySerializer: () => string },
      ) => Promise<{ error?: unknown; response: Response }>;
      return request(method.toLowerCase(), path, {
        headers,
        body: body === "" ? undefined : body,
        bodySerializer: (b) => b,
        querySerializer: () => query ?? "",
      });
    };
    const answers: { error?: unknown; response: Response }[] = [];
    if (c.concurrent) {
      answers.push(...(await Promise.all(Array.from({ length: c.concurrent }, () => send(bodies[0])))));
    } else {
      for (let i = 0; i < Math.max(c.repeat ?? 1, bodies.length); i++) {
        answers.push(await send(bodies[Math.min(i, bodies.length - 1)]));
      }
    }
    const answer = c.concurrent ? answers.find((a) => a.response.status === c.status) : answers[answers.length - 1];
    check(answer?.response.status === c.status, `${c.code}: ${answers.map((a) => a.response.status)}`);
    if (c.op) {
      const [opMethod, template] = c.op.split(" ");
      const documented = document.paths[template]?.[opMethod.toLowerCase()]?.responses[String(c.status)];
      check(JSON.stringify(documented).includes("#/components/schemas/Error"), `${c.code}: ${c.op} does not document ${c.status}`);
    }
    check(isApiError(answer!.error) && answer!.error.error.code === c.code, `${c.code}: ${JSON.stringify(answer!.error)}`);
    checked += 1;
  }
  return { checked, raw };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
