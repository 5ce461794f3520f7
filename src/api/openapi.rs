//! creditgate's own OpenAPI 3.1 document. The component schemas are derived with schemars
//! from the types the handlers serialize (the same derive that gives the config its JSON
//! Schema; OpenAPI 3.1 schemas are JSON Schema 2020-12). The paths are written here, next
//! to the routes: their query strings are parsed by hand (`params.rs`) to refuse unknown
//! and repeated parameters, so no derive sees them. `schemas/openapi.json` is this document
//! checked in; a test fails when the two drift, and another checks each schema against
//! what the serializers emit.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::error::{ErrorBody, ErrorCode};
use crate::gateway::MAX_IDEMPOTENCY_KEY_CHARS;
use crate::gateway::{ProviderInfo, Skipped};
use crate::model::write::{AdjustmentInput, EndGrantInput, LedgerAdjustment, NewGrantInput};
use crate::model::{CreditBalance, CreditGrant, GrantStatus, LedgerEntry, ProviderKind};
use crate::paging::{MAX_CURSOR_LEN, MAX_LIMIT, MIN_LIMIT};
use crate::providers::id_facts;
use crate::providers::ids::{IdFacts, IdShape};

fn list_of(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"], "description": "null exactly when has_more is false"},
            "previous_cursor": {"type": ["string", "null"], "description": "present where the vendor pages backwards"},
            "skipped": {"type": "array", "items": {"$ref": "#/components/schemas/Skipped"}}
        }
    })
}

fn param(name: &str, required: bool, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": description, "schema": schema})
}

/// `^(?:stripe:<id>|metronome:<id>|...)$` over each vendor's id shape of one kind; vendors
/// without that kind of id are left out.
fn qualified_pattern(shape: impl Fn(&IdFacts) -> Option<&IdShape>, extra: &str) -> String {
    let mut branches: Vec<String> = ProviderKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let facts = id_facts(kind)?;
            shape(&facts).map(|s| format!("{kind}:{}", s.pattern()))
        })
        .collect();
    if !extra.is_empty() {
        branches.push(extra.to_owned());
    }
    format!("^(?:{})$", branches.join("|"))
}

fn customer_param(required: bool, when: &str) -> Value {
    param(
        "customer",
        required,
        &format!(
            "`<provider>:<vendor customer id>` in that vendor's id shape, or a customer alias from the \
             gateway's config (no `:`; an alias the config lacks is `400 unknown_customer`). {when}"
        ),
        json!({"type": "string", "minLength": 1, "pattern": qualified_pattern(|f| Some(&f.customer), "[^:]+")}),
    )
}

fn grant_id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "pattern": qualified_pattern(|f| f.grant.as_ref(), "")})
}

fn provider_param(description: &str) -> Value {
    param(
        "provider",
        false,
        description,
        json!({"$ref": "#/components/schemas/Provider"}),
    )
}

fn paging_params() -> Vec<Value> {
    vec![
        param(
            "limit",
            false,
            "page size, in plain decimal digits",
            json!({"type": "integer", "minimum": MIN_LIMIT, "maximum": MAX_LIMIT, "default": 50}),
        ),
        param(
            "cursor",
            false,
            "`next_cursor` or `previous_cursor` of an earlier page, sent with the same filters by \
             the same tenant; anything else is `400 invalid_cursor`",
            json!({"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LEN, "pattern": "^[A-Za-z0-9_-]+$"}),
        ),
        param(
            "include",
            false,
            "`raw` adds the vendor's own object",
            json!({"type": "string", "enum": ["raw"]}),
        ),
    ]
}

/// The error codes every `/v1` operation can answer (README.md, the error table); each
/// one's status is its own ([`ErrorCode::status`]).
const READ_ERROR_CODES: [ErrorCode; 17] = [
    ErrorCode::InvalidParameter,
    ErrorCode::InvalidCursor,
    ErrorCode::UnknownCustomer,
    ErrorCode::MissingApiKey,
    ErrorCode::InvalidApiKey,
    ErrorCode::ProviderNotAllowed,
    ErrorCode::CustomerNotAllowed,
    ErrorCode::GrantNotFound,
    ErrorCode::CustomerNotFound,
    ErrorCode::ResourceNotFound,
    ErrorCode::RateLimited,
    ErrorCode::InternalError,
    ErrorCode::UnsupportedByProvider,
    ErrorCode::UpstreamInvalidResponse,
    ErrorCode::UpstreamServerError,
    ErrorCode::UpstreamAuthFailed,
    ErrorCode::UpstreamRequestRejected,
];

/// The rest of a read's codes: the vendor cannot be asked, or did not answer in time.
const UPSTREAM_UNAVAILABLE_CODES: [ErrorCode; 5] = [
    ErrorCode::UpstreamRateLimited,
    ErrorCode::CircuitOpen,
    ErrorCode::UpstreamSaturated,
    ErrorCode::UpstreamUnreachable,
    ErrorCode::UpstreamTimeout,
];

/// The codes a write adds.
const WRITE_ERROR_CODES: [ErrorCode; 13] = [
    ErrorCode::IdempotencyKeyRequired,
    ErrorCode::InvalidIdempotencyKey,
    ErrorCode::InvalidJson,
    ErrorCode::BodyTooLarge,
    ErrorCode::WriteNotAllowed,
    ErrorCode::RequestBodyTimeout,
    ErrorCode::IdempotencyKeyReused,
    ErrorCode::IdempotencyKeyInUse,
    ErrorCode::WriteOutcomeSettling,
    ErrorCode::CustomerWriteInProgress,
    ErrorCode::UpstreamConflict,
    ErrorCode::UpstreamOutcomeUnknown,
    ErrorCode::IdempotencyStoreUnavailable,
];

/// The error codes of a read (`write` false) or a write, by status, in status order.
fn error_codes(write: bool) -> Vec<(String, Vec<&'static str>)> {
    let writes: &[ErrorCode] = if write { &WRITE_ERROR_CODES } else { &[] };
    let mut by_status: std::collections::BTreeMap<u16, Vec<&'static str>> = std::collections::BTreeMap::new();
    for code in READ_ERROR_CODES.iter().chain(&UPSTREAM_UNAVAILABLE_CODES).chain(writes) {
        by_status.entry(code.status().as_u16()).or_default().push(code.as_str());
    }
    by_status
        .into_iter()
        .map(|(status, codes)| (status.to_string(), codes))
        .collect()
}

/// Every answer a `/v1` operation can give: its status, headers and body.
fn responses(ok: &str) -> Value {
    operation_responses(ok, false)
}

fn operation_responses(ok: &str, write: bool) -> Value {
    let int = |description: &str| json!({"description": description, "required": true, "schema": {"type": "integer", "minimum": 0}});
    let request_id = json!({"description": "the request's id, also sent to the vendor and in error bodies", "required": true, "schema": {"type": "string"}});
    let headers = |quota: bool, retry: bool| {
        let mut h = json!({"X-Request-Id": request_id});
        if quota {
            h["RateLimit-Limit"] = int("the key's burst");
            h["RateLimit-Remaining"] = int("requests the key may still send now");
            h["RateLimit-Reset"] = int("seconds until the full burst is available again");
        }
        if retry {
            h["Retry-After"] = int("seconds to wait before trying again");
        }
        h
    };
    let mut answers = Map::new();
    let mut ok_headers = headers(true, false);
    if write {
        ok_headers["Idempotent-Replayed"] = json!({"description": "`true` when this is the answer to an earlier request with the same Idempotency-Key, replayed", "schema": {"type": "string", "enum": ["true"]}});
    } else if ok != "ProviderList" {
        // Data answers are kept whole (ARCHITECTURE.md, "Design notes": the answer cache).
        ok_headers["ETag"] = json!({"description": "strong validator of this answer's JSON; send it back in If-None-Match", "required": true, "schema": {"type": "string"}});
        ok_headers["Vary"] = json!({"description": "accept-encoding", "required": true, "schema": {"type": "string"}});
        ok_headers["X-Partial"] = json!({"description": "`true` when a provider of an alias failed and was left out (named in `skipped`); balances only", "schema": {"type": "string", "enum": ["true"]}});
        ok_headers["Content-Encoding"] = json!({"description": "gzip or br when the client accepts it and the answer is 1 KiB or more", "schema": {"type": "string", "enum": ["gzip", "br"]}});
        let mut not_modified_headers = headers(true, false);
        not_modified_headers["ETag"] = ok_headers["ETag"].clone();
        answers.insert(
            "304".into(),
            json!({"description": "Not Modified: If-None-Match names the current answer (no body, no vendor call when it is kept)",
                   "headers": not_modified_headers}),
        );
    }
    answers.insert(
        "200".into(),
        json!({"description": "OK", "headers": ok_headers,
               "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{ok}")}}}}),
    );
    for (status, codes) in error_codes(write) {
        // Unauthenticated answers carry no quota; a 500 may come before the key is read.
        let quota = !matches!(status.as_str(), "401" | "500");
        let retry = matches!(status.as_str(), "429" | "503");
        let mut headers = headers(quota, retry);
        if status == "409" {
            headers["Retry-After"] = json!({"description": "seconds to wait before sending the same request again \
                (with write_outcome_settling and customer_write_in_progress)", "schema": {"type": "integer", "minimum": 0}});
        }
        answers.insert(status, super::operations::error_answer(&codes, headers));
    }
    Value::Object(answers)
}

/// A GET operation, with the rules across its parameters that no parameter schema can say
/// (also in the description), as `x-creditgate-rules`: each names the parameters and the
/// `param` of the `400 invalid_parameter` that breaking it gives.
fn get(summary: &str, parameters: Vec<Value>, rules: &[(&str, &[&str], &str)], ok: &str) -> Value {
    let mut description = String::new();
    for (_, _, text) in rules {
        description += &format!("- {text}\n");
    }
    let rules: Vec<Value> = rules
        .iter()
        .map(|(rule, params, text)| json!({"rule": rule, "params": params, "description": text}))
        .collect();
    json!({"get": {"summary": summary, "description": description, "security": [{"bearer": []}],
                   "parameters": parameters, "responses": responses(ok), "x-creditgate-rules": rules}})
}

const SAME_PROVIDER: &str = "same-provider";

/// A write: `Idempotency-Key` required, a JSON body, and the write's answers.
fn post(summary: &str, description: &str, path_id: bool, body: &str, body_required: bool, ok: &str) -> Value {
    let mut parameters = vec![json!({
        "name": "Idempotency-Key", "in": "header", "required": true,
        "description": "a unique value per intended write, sent again unchanged when retrying it: the same \
                        tenant, key and request within 24 hours replay the first answer; another request \
                        under the key is `409 idempotency_key_reused`",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS, "pattern": "^[!-~]+$"}
    })];
    if path_id {
        parameters.push(
            json!({"name": "id", "in": "path", "required": true, "schema": grant_id_schema(),
                               "description": "`<provider>:<vendor grant id>`"}),
        );
    }
    json!({"post": {
        "summary": summary,
        "description": description,
        "security": [{"bearer": []}],
        "parameters": parameters,
        "requestBody": {"required": body_required, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}},
        "responses": operation_responses(ok, true)
    }})
}

/// `paths` entries for a GET and a POST on one route.
fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The component schemas, derived with schemars from the types the handlers serialize (a
/// field, its type, its doc comment and whether it is always present come from the code),
/// plus the list envelope around each.
fn component_schemas() -> Map<String, Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    generator.subschema_for::<CreditGrant>();
    generator.subschema_for::<LedgerEntry>();
    generator.subschema_for::<CreditBalance>();
    generator.subschema_for::<ProviderInfo>();
    generator.subschema_for::<Skipped>();
    generator.subschema_for::<GrantStatus>();
    generator.subschema_for::<ErrorBody>();
    generator.subschema_for::<LedgerAdjustment>();
    generator.subschema_for::<crate::gateway::WebhookReceipt>();
    generator.subschema_for::<crate::model::event::Event>();
    generator.subschema_for::<crate::gateway::EventWithDeliveries>();
    generator.subschema_for::<crate::model::event::BalanceAlert>();
    generator.subschema_for::<crate::gateway::BalanceHistory>();
    let mut schemas = generator.take_definitions(true);
    // Request bodies, as the server reads them.
    let mut inputs = SchemaSettings::draft2020_12()
        .for_deserialize()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    inputs.subschema_for::<NewGrantInput>();
    inputs.subschema_for::<EndGrantInput>();
    inputs.subschema_for::<AdjustmentInput>();
    inputs.subschema_for::<crate::model::event::NewBalanceAlertInput>();
    schemas.extend(inputs.take_definitions(true));
    for (list, item) in [
        ("CreditGrantList", "CreditGrant"),
        ("CreditLedgerEntryList", "CreditLedgerEntry"),
        ("CreditBalanceList", "CreditBalance"),
        ("ProviderList", "ProviderInfo"),
        ("EventList", "Event"),
        ("BalanceAlertList", "BalanceAlert"),
    ] {
        schemas.insert(list.to_owned(), list_of(item));
    }
    schemas
}

/// The OpenAPI 3.1 document for HTTP API v1.
pub fn openapi_document() -> Value {
    let schemas = component_schemas();
    let customer_matches_provider = (
        SAME_PROVIDER,
        &["customer", "provider"][..],
        "`provider` must be the provider of `customer` (or one its alias maps to); otherwise \
         `400 invalid_parameter` (`provider`)",
    );
    let mut grant_params = vec![
        customer_param(false, "Without it, `provider` lists that vendor's whole account."),
        provider_param("restrict to one provider; alone, the whole account of that provider"),
        param(
            "status",
            false,
            "only grants in this status",
            json!({"$ref": "#/components/schemas/GrantStatus"}),
        ),
    ];
    grant_params.extend(paging_params());
    let grant_rules = [
        (
            "customer-or-provider",
            &["customer", "provider"][..],
            "`customer` or `provider` is required; otherwise `400 invalid_parameter` (`customer`)",
        ),
        customer_matches_provider,
    ];
    let mut ledger_params = vec![
        customer_param(true, ""),
        param(
            "grant",
            false,
            "only entries of this grant of the customer (`<provider>:<vendor grant id>`); a grant \
             that is not the customer's is `404 grant_not_found`",
            grant_id_schema(),
        ),
        provider_param("restrict to one provider"),
    ];
    ledger_params.extend(paging_params());
    let ledger_rules = [
        customer_matches_provider,
        (
            SAME_PROVIDER,
            &["grant", "provider"][..],
            "`provider` must be the grant's provider; otherwise `400 invalid_parameter` (`provider`)",
        ),
        (
            SAME_PROVIDER,
            &["grant", "customer"][..],
            "the grant's provider must be the customer's (or one its alias maps to); otherwise \
             `400 invalid_parameter`",
        ),
    ];
    let balance_params = vec![
        customer_param(true, ""),
        provider_param("restrict to one provider"),
        param(
            "require",
            false,
            "`all`: an alias's answer holds every provider's balances or is an error. Without it, \
             a provider of an alias that fails is left out, named in `skipped` with its error code, \
             and the answer carries `X-Partial: true`",
            json!({"type": "string", "enum": ["all"]}),
        ),
    ];
    let spec = |(name, required, description, schema)| param(name, required, description, schema);
    let mut history_params = balance_params.clone();
    history_params.extend(super::balances::history_params().into_iter().map(spec));
    let [past, ordered, points] = super::balances::HISTORY_RULES;
    let history = get(
        "A customer's balance in one unit over time: per provider and summed",
        history_params,
        &[customer_matches_provider, past, ordered, points],
        "BalanceHistory",
    );
    let mut balance_params = balance_params;
    balance_params.push(spec(super::balances::as_of_param()));
    let grant_by_id = json!({"get": {
        "summary": "One credit grant",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "id", "in": "path", "required": true, "schema": grant_id_schema(), "description": "`<provider>:<vendor grant id>`"},
            merge(param("include", false, "`ledger` adds the grant's entries, `raw` the vendor object; both as `ledger,raw`",
                  json!({"type": "array", "items": {"type": "string", "enum": ["ledger", "raw"]}, "uniqueItems": true, "maxItems": 2})),
                  json!({"style": "form", "explode": false}))
        ],
        "responses": responses("CreditGrant")
    }});
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "creditgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One credits API in front of many billing vendors: credit grants, ledger entries and balances in one normalized model."
        },
        "paths": {
            "/v1/providers": get("Configured providers, their capabilities and health", vec![], &[], "ProviderList"),
            "/v1/credit_grants": merge(
                get("Credit grants (buckets)", grant_params, &grant_rules, "CreditGrantList"),
                post("Create a credit grant", "Needs a key with the `write` scope and a vendor with `create_grants`. \
                      Answers the grant as the vendor has it.", false, "NewCreditGrant", true, "CreditGrant")),
            "/v1/credit_grants/{id}": grant_by_id,
            "/v1/credit_grants/{id}/void": post("Void a credit grant", "What is left of it is withdrawn \
                (`void_grants`; README.md, \"Writes\", says which vendor operation each vendor uses). \
                A grant already voided is answered as it is.", true, "EndCreditGrant", false, "CreditGrant"),
            "/v1/credit_grants/{id}/expire": post("Expire a credit grant now", "`expire_grants`. A grant \
                already expired is answered as it is.", true, "EndCreditGrant", false, "CreditGrant"),
            "/v1/credit_ledger_entries": merge(
                get("Credit ledger entries (transactions)", ledger_params, &ledger_rules, "CreditLedgerEntryList"),
                post("Book a manual credit or debit", "`ledger_adjustments` (Vayu grant/deduct, Metronome's \
                      manual ledger entry on a credit).", false, "NewCreditLedgerAdjustment", true, "CreditLedgerAdjustment")),
            "/v1/credit_balances": get("Balances per provider and unit", balance_params,
                &[customer_matches_provider, super::balances::AS_OF_RULE], "CreditBalanceList"),
            "/v1/credit_balance_history": history,
            "/v1/vendor_webhooks/{provider}": super::webhooks::openapi_operation()
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a creditgate API key from the config"}},
            "schemas": schemas
        }
    });
    if let Some(paths) = document["paths"].as_object_mut() {
        paths.extend(super::operations::ops_paths());
        paths.extend(super::events::openapi_paths(customer_param(
            false,
            "Only that customer's events.",
        )));
    }
    super::operations::for_generators(&mut document);
    document
}
