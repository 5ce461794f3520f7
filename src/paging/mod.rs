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

/// A client's `limit`: from [`MIN_LIMIT`] to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when not
/// given. Made only by parsing (or the constants), so no later layer can meet another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    pub const MAX: Limit = Limit(MAX_LIMIT);

    pub fn get(self) -> usize {
        self.0
    }

    /// `n` brought into range: a page size the server chooses itself.
    pub const fn clamped(n: usize) -> Limit {
        if n < MIN_LIMIT {
            Limit(MIN_LIMIT)
        } else if n > MAX_LIMIT {
            Limit(MAX_LIMIT)
        } else {
            Limit(n)
        }
    }
}

impl Default for Limit {
    fn default() -> Self {
        Limit(DEFAULT_LIMIT)
    }
}

impl std::str::FromStr for Limit {
    type Err = String;

    /// Plain decimal digits in range: `+5`, `05` and ` 5` are refused, not read as 5.
    fn from_str(text: &str) -> Result<Self, String> {
        let canonical = text.bytes().all(|b| b.is_ascii_digit()) && !(text.len() > 1 && text.starts_with('0'));
        canonical
            .then(|| text.parse::<usize>().ok())
            .flatten()
            .filter(|n| (MIN_LIMIT..=MAX_LIMIT).contains(n))
            .map(Limit)
            .ok_or_else(|| {
                format!(
                    "limit must be an integer between {MIN_LIMIT} and {MAX_LIMIT}, got {}",
                    crate::model::quoted(text)
                )
            })
    }
}
