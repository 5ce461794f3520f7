//! The config's numeric bounds, stated once: as `schemars` attributes on the types the file
//! is read into (`#[schemars(range(min = 1))]`), which the JSON Schema carries. A config's
//! numbers (serialized, however the config was made) are checked here against that
//! schema, so a bound is never written twice.

use super::ConfigError;

/// Checks every number in `config` against the `minimum` and `maximum` the schema states
/// for its key; each problem names the key's path.
pub(super) fn check(config: &serde_json::Value, schema: &serde_json::Value) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    if let Some(config) = config.as_object() {
        for (key, value) in config {
            walk(value, property(schema, key), key.clone(), &mut problems);
        }
    }
    problems
}

/// The schema of `key` inside an object's schema: a named property, or a map's values.
fn property<'s>(schema: &'s serde_json::Value, key: &str) -> Option<&'s serde_json::Value> {
    schema["properties"]
        .get(key)
        .or_else(|| schema.get("additionalProperties").filter(|s| s.is_object()))
}

fn walk(value: &serde_json::Value, schema: Option<&serde_json::Value>, path: String, problems: &mut Vec<ConfigError>) {
    let Some(schema) = schema else { return };
    match value {
        serde_json::Value::Object(table) => {
            for (key, inner) in table {
                walk(inner, property(schema, key), format!("{path}.{key}"), problems);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, schema.get("items"), format!("{path}[{i}]"), problems);
            }
        }
        serde_json::Value::Number(number) => {
            // Exact for every integer a config holds (u64 or i64), whatever its size.
            let n = number.as_i128().or_else(|| number.as_u128().map(|n| n as i128));
            let bound = |key: &str| schema[key].as_i64().map(i128::from);
            if let (Some(n), Some(min)) = (n, bound("minimum")) {
                if n < min {
                    problems.push(ConfigError::at(
                        path.clone(),
                        format!("must be at least {min}, got {n}"),
                    ));
                }
            }
            if let (Some(n), Some(max)) = (n, bound("maximum")) {
                if n > max {
                    problems.push(ConfigError::at(path, format!("must be at most {max}, got {n}")));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Option<String> {
        let file: serde_json::Value = toml::from_str(text).unwrap();
        check(&file, &super::super::schema::json_schema())
            .first()
            .map(|e| e.to_string())
    }

    #[test]
    fn numbers_outside_the_schemas_bounds_are_refused_by_path() {
        let refused = [
            ("[upstream]\nattempt_timeout_ms = 0", "upstream.attempt_timeout_ms"),
            (
                "[upstream.breaker]\nfailure_rate_percent = 101",
                "upstream.breaker.failure_rate_percent",
            ),
            (
                "[server]\nmax_request_head_bytes = 100",
                "server.max_request_head_bytes",
            ),
            (
                "[upstream.outbound_rate.stripe]\nrequests = 0\nper_secs = 1",
                "upstream.outbound_rate.stripe.requests",
            ),
            (
                "[providers.togai]\nsecret = \"env:X\"\npage_size = 0",
                "providers.togai.page_size",
            ),
        ];
        for (text, key) in refused {
            let problem = problem(text).unwrap_or_else(|| panic!("{text}: taken"));
            assert!(problem.contains(key), "{text}: {problem}");
        }
        assert_eq!(
            problem("[upstream.breaker]\nfailure_rate_percent = 100\nopen_ms = 1"),
            None
        );
        assert_eq!(problem("[upstream]\ncache_ttl_secs = { stripe = 0 }"), None);
    }
}
