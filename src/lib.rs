//! creditgate: one credits API in front of many billing vendors.
//!
//! [`Gateway`] is the library; the HTTP server ([`api`]) and the CLI are thin layers over it.
//! See README.md for a map of the modules.

pub mod api;
pub mod config;
pub mod error;
pub mod events;
pub mod export;
pub mod files;
pub mod gateway;
pub mod hex;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod paging;
pub mod providers;
pub mod quota;
pub mod request_id;
pub mod secret;
pub mod shared;
pub mod store;
pub mod telemetry;
pub mod upstream;

pub use config::Config;
pub use error::ApiError;
pub use gateway::{BalancesQuery, Caller, Gateway, GrantsQuery, LedgerQuery, ListPage};
