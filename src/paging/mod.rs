//! The pagination contract (README.md, "HTTP API v1"), written once for every vendor.

pub mod assembler;
pub mod concat;
pub mod cursor;

pub use assembler::{AssembledPage, BackwardPage, HasMore, PageAssembler, VendorPage, VendorPager};
pub use concat::{concat_page, ConcatPage, ConcatSource};
pub use cursor::{filter_hash, CursorCodec, CursorScope, Position, MAX_CURSOR_LEN};

/// Smallest and largest client `limit`, and the default.
pub const MIN_LIMIT: usize = 1;
pub const MAX_LIMIT: usize = 500;
pub const DEFAULT_LIMIT: usize = 50;
