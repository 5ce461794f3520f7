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
