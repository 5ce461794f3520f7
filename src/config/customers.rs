//! `[customers.<alias>]`: one customer across vendors, each alias mapping providers to that
//! customer's id there, kept in file order (lists concatenate in this order).

use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::ProviderKind;

/// `[customers.<alias>]` tables, in file order.
#[derive(Debug, Clone, Default)]
pub struct CustomerAliases(pub Vec<(String, CustomerMap)>);

impl CustomerAliases {
    pub fn get(&self, alias: &str) -> Option<&CustomerMap> {
        self.0.iter().find(|(name, _)| name == alias).map(|(_, map)| map)
    }
}

/// One customer's ids at its providers, in file order (lists concatenate in this order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerMap(pub Vec<(ProviderKind, String)>);

impl<'de> Deserialize<'de> for CustomerAliases {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CustomerAliases;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of customer aliases")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((alias, ids)) = map.next_entry::<String, CustomerMap>()? {
                    out.push((alias, ids));
                }
                Ok(CustomerAliases(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for CustomerMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CustomerMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of `<provider> = \"<vendor customer id>\"`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(ProviderKind, String)> = Vec::new();
                while let Some((provider, id)) = map.next_entry::<String, String>()? {
                    let kind = provider.parse::<ProviderKind>().map_err(serde::de::Error::custom)?;
                    out.push((kind, id));
                }
                Ok(CustomerMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl JsonSchema for CustomerAliases {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CustomerAliases".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "`[customers.<alias>]`: each alias maps providers to that customer's id there; lists concatenate in file order",
            "additionalProperties": generator.subschema_for::<CustomerMap>(),
        })
    }
}

/// The maps as tables again (for the bounds check, which reads a config as JSON).
impl Serialize for CustomerAliases {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(alias, map)| (alias, map)))
    }
}

impl Serialize for CustomerMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(provider, id)| (provider, id)))
    }
}

impl JsonSchema for CustomerMap {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CustomerMap".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "`<provider> = \"<vendor customer id>\"`, in list order",
            "propertyNames": generator.subschema_for::<ProviderKind>(),
            "additionalProperties": {"type": "string"},
        })
    }
}
