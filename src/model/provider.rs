//! The vendor registry: the one list of the vendors creditgate speaks to, and
//! [`ProviderKind`], made from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Calls `$callback!` with every vendor, in the order creditgate lists them, as
/// `Variant module` pairs: `ProviderKind::Variant`, its name (`module`) in ids, in
/// `[providers.module]` and in `providers/module.toml`, and its dialect in
/// `src/providers/module/`. **Adding a vendor is one line here** plus its own files
/// (ARCHITECTURE.md, "Adding a vendor"); everything that lists vendors is made from it.
macro_rules! for_each_vendor {
    ($callback:ident) => {
        $callback! {
            Stripe stripe,
            Metronome metronome,
            Sequence sequence,
            Togai togai,
            Vayu vayu,
            Lago lago,
        }
    };
}
pub(crate) use for_each_vendor;

macro_rules! provider_kind {
    ($first:ident $first_name:ident, $($variant:ident $name:ident,)*) => {
        /// The vendors creditgate speaks to (the registry, [`for_each_vendor`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "lowercase")]
        #[schemars(rename = "Provider", description = "A billing vendor creditgate speaks to.")]
        pub enum ProviderKind {
            $first,
            $($variant,)*
        }

        impl ProviderKind {
            /// Every vendor, in the order creditgate lists them.
            pub const ALL: [ProviderKind; [stringify!($first) $(, stringify!($variant))*].len()] =
                [ProviderKind::$first, $(ProviderKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    ProviderKind::$first => stringify!($first_name),
                    $(ProviderKind::$variant => stringify!($name),)*
                }
            }
        }

        /// `<provider>:<vendor id>` with any vendor's name and a non-blank id: the pattern of
        /// every id and customer reference creditgate returns.
        pub const QUALIFIED_ID_PATTERN: &str =
            concat!("^(", stringify!($first_name), $("|", stringify!($name),)* r"):[\s\S]*\S[\s\S]*$");
    };
}
for_each_vendor!(provider_kind);

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = ProviderKind::ALL.iter().map(|p| p.as_str()).collect();
            format!(
                "unknown provider {} (expected one of {})",
                super::quoted(s),
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in ProviderKind::ALL {
            assert_eq!(p.as_str().parse::<ProviderKind>().unwrap(), p);
        }
        let err = "paypal".parse::<ProviderKind>().unwrap_err();
        assert!(
            err.contains("expected one of stripe, metronome, sequence, togai, vayu"),
            "{err}"
        );
    }

    #[test]
    fn the_id_pattern_names_every_vendor_and_nothing_else() {
        assert_eq!(
            QUALIFIED_ID_PATTERN,
            r"^(stripe|metronome|sequence|togai|vayu|lago):[\s\S]*\S[\s\S]*$"
        );
    }
}
