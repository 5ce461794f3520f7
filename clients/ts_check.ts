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

  // Errors, each into the one Error type.
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
  console.log(`typescript client: ok (${seen.length} grants walked, a write replayed, 5 errors typed)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
