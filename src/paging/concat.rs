//! Concatenation of several lists (one customer across providers): the parts in a fixed
//! order, each in its own order, behind one cursor that says which part the walk is in
//! and where inside it.

use std::future::Future;

use crate::error::ApiError;
use crate::paging::{AssembledPage, Position};

/// The lists being concatenated.
pub trait ConcatSource: Sync {
    type Item: Send;

    fn parts(&self) -> usize;

    /// A page of at most `limit` items of one part.
    fn page(
        &self,
        part: usize,
        position: Position,
        limit: usize,
    ) -> impl Future<Output = Result<AssembledPage<Self::Item>, ApiError>> + Send;
}

/// A client page of the concatenation; positions name their part.
#[derive(Debug)]
pub struct ConcatPage<T> {
    pub items: Vec<T>,
    pub next: Option<(usize, Position)>,
    /// Only within a single part (backward paging across vendors is not offered).
    pub previous: Option<(usize, Position)>,
}

/// Fills a page of `limit` items starting at `start`.
pub async fn concat_page<S: ConcatSource>(
    source: &S,
    start: (usize, Position),
    limit: usize,
) -> Result<ConcatPage<S::Item>, ApiError> {
    let (first, position) = start;
    let parts = source.parts();
    let mut items = Vec::new();
    let mut previous = None;
    let mut position = Some(position);
    for part in first..parts {
        let page = source
            .page(part, position.take().unwrap_or(Position::START), limit - items.len())
            .await?;
        if parts == 1 {
            previous = page.previous.map(|p| (part, p));
        }
        items.extend(page.items);
        if let Some(next) = page.next {
            return Ok(ConcatPage {
                items,
                next: Some((part, next)),
                previous,
            });
        }
        if items.len() == limit {
            // Filled exactly at the end of a part: continue at the next part that has
            // anything, so no client page is empty.
            let mut next = None;
            for later in part + 1..parts {
                if !source.page(later, Position::START, 1).await?.items.is_empty() {
                    next = Some((later, Position::START));
                    break;
                }
            }
            return Ok(ConcatPage { items, next, previous });
        }
    }
    Ok(ConcatPage {
        items,
        next: None,
        previous,
    })
}
