//! The config file's JSON Schema, derived with schemars from the types the parser reads.

use super::Config;

/// The config file's JSON Schema, derived from the types the parser reads (checked in as
/// `schemas/config.schema.json`; a test keeps the two equal).
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<Config>().to_value();
    drop_null_types(&mut schema);
    schema
}

/// Every key of `file` (a config file's tables, as JSON) that the schema's section has no
/// place for, with the keys it does take: what a typo looks like. serde stops at the first
/// such key; this finds them all.
pub(super) fn unknown_keys(file: &serde_json::Value, schema: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    walk_keys(file, schema, String::new(), &mut found);
    found
}

fn walk_keys(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    path: String,
    found: &mut Vec<(String, Vec<String>)>,
) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::Object(table) => {
            let properties = schema.get("properties").and_then(|p| p.as_object());
            let additional = schema.get("additionalProperties");
            for (key, inner) in table {
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(property), _) => walk_keys(inner, property, join(key), found),
                    (None, Some(more)) if more.is_object() => walk_keys(inner, more, join(key), found),
                    (None, Some(serde_json::Value::Bool(false))) => {
                        let expected = properties.map(|p| p.keys().cloned().collect()).unwrap_or_default();
                        found.push((join(key), expected));
                    }
                    _ => {}
                }
            }
        }
        serde_json::Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk_keys(item, item_schema, format!("{path}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

/// TOML has no null (an absent key is how an option is left unset): the null that schemars
/// allows for every `Option` is taken out of types, enums, `anyOf` choices and defaults
/// throughout.
fn drop_null_types(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            // A section's default as serde writes it names its unset options as null.
            match map.get_mut("default") {
                Some(serde_json::Value::Null) => {
                    map.remove("default");
                }
                Some(serde_json::Value::Object(members)) => members.retain(|_, v| !v.is_null()),
                _ => {}
            }
            if let Some(serde_json::Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".into(), only);
                }
            }
            if let Some(serde_json::Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            let null = serde_json::json!({"type": "null"});
            if let Some(serde_json::Value::Array(choices)) = map.get_mut("anyOf") {
                choices.retain(|c| *c != null);
                if let [only] = choices.as_slice() {
                    if let serde_json::Value::Object(inner) = only.clone() {
                        map.remove("anyOf");
                        map.extend(inner);
                    }
                }
            }
            map.values_mut().for_each(drop_null_types);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_null_types),
        _ => {}
    }
}
