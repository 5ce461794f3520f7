//! The fake vendor of `tests/paging_props.rs`: `n` items served in vendor pages in each
//! paging style creditgate meets (tokens, item keys both ways, offsets), counting its calls.

use std::sync::atomic::{AtomicUsize, Ordering};

use creditgate::model::ProviderKind;
use creditgate::paging::{AssembledPage, BackwardPage, HasMore, PageAssembler, Position, VendorPage, VendorPager};
use creditgate::ApiError;

/// How the fake vendor pages.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Opaque page tokens (Metronome, Togai): cursors keep an offset into the page.
    Token,
    /// Item ids as cursors with an exact `has_more` (Stripe): pages backwards too.
    ItemKeyed,
    /// Item ids as cursors and no `has_more` (Vayu): a full page may be the last.
    ItemKeyedNoHasMore,
    /// Opaque tokens over uneven pages, some empty mid-walk, and a token on the last page
    /// that leads to one more empty page (Togai, and its ledger flattened from grants).
    TokenSparse,
}

/// An in-memory vendor with `n` items, `page` per vendor page.
pub struct FakeVendor {
    pub n: usize,
    pub page: usize,
    pub style: Style,
    pub calls: AtomicUsize,
}

pub fn key(i: usize) -> String {
    format!("it_{i:05}")
}

pub fn index_of(k: &str) -> usize {
    k.trim_start_matches("it_").parse().unwrap()
}

impl VendorPager for FakeVendor {
    type Item = usize;

    async fn vendor_page(&self, token: Option<&str>) -> Result<VendorPage<usize>, ApiError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Style::TokenSparse = self.style {
            let pages = self.sparse_pages();
            let k = token.map_or(0, |t| t.trim_start_matches("sparse_").parse::<usize>().unwrap());
            let (start, size) = pages[k];
            let last = k + 1 == pages.len();
            return Ok(VendorPage {
                items: (start..start + size).collect(),
                has_more: if last { HasMore::No } else { HasMore::Maybe },
                next_token: (!last).then(|| format!("sparse_{}", k + 1)),
                prev_token: None,
            });
        }
        let start = match (self.style, token) {
            (_, None) => 0,
            (Style::Token, Some(t)) => t.trim_start_matches("page_").parse::<usize>().unwrap() * self.page,
            (_, Some(k)) => index_of(k) + 1,
        };
        let end = (start + self.page).min(self.n);
        let items: Vec<usize> = (start.min(self.n)..end).collect();
        let more = end < self.n;
        let prev_token = match self.style {
            Style::Token => (start >= self.page).then(|| format!("page_{}", start / self.page - 1)),
            _ => None,
        };
        let (has_more, next_token) = match self.style {
            Style::Token => (
                if more { HasMore::Yes } else { HasMore::No },
                more.then(|| format!("page_{}", start / self.page + 1)),
            ),
            Style::ItemKeyed => (
                if more { HasMore::Yes } else { HasMore::No },
                items.last().map(|i| key(*i)),
            ),
            Style::TokenSparse => unreachable!("handled above"),
            Style::ItemKeyedNoHasMore => (
                if items.len() == self.page {
                    HasMore::Maybe
                } else {
                    HasMore::No
                },
                items.last().map(|i| key(*i)),
            ),
        };
        Ok(VendorPage {
            items,
            has_more,
            next_token,
            prev_token,
        })
    }

    fn item_key(&self, item: &usize) -> Option<String> {
        match self.style {
            Style::Token | Style::TokenSparse => None,
            _ => Some(key(*item)),
        }
    }

    fn pages_backward(&self) -> bool {
        matches!(self.style, Style::ItemKeyed | Style::Token)
    }

    async fn vendor_page_before(&self, before: &str) -> Result<BackwardPage<usize>, ApiError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let end = index_of(before);
        let start = end.saturating_sub(self.page);
        Ok(BackwardPage {
            items: (start..end).collect(),
            more_before: start > 0,
        })
    }
}

pub fn vendor(n: usize, page: usize, style: Style) -> FakeVendor {
    FakeVendor {
        n,
        page,
        style,
        calls: AtomicUsize::new(0),
    }
}

impl FakeVendor {
    /// TokenSparse page k: (first item, item count); sizes cycle through 0..=page.
    fn sparse_pages(&self) -> Vec<(usize, usize)> {
        let mut pages = Vec::new();
        let mut start = 0;
        let mut k = 0;
        while start < self.n {
            let size = ((k * 7 + 3) % (self.page + 1)).min(self.n - start);
            pages.push((start, size));
            start += size;
            k += 1;
        }
        pages.push((self.n, 0));
        pages
    }
}

pub async fn page(v: &FakeVendor, pos: Position, limit: usize) -> AssembledPage<usize> {
    PageAssembler::new(v, ProviderKind::Stripe)
        .page(pos, limit)
        .await
        .unwrap()
}

/// Walks forward to the end; returns the items and the pages.
pub async fn walk_forward(v: &FakeVendor, limit: usize) -> (Vec<usize>, Vec<AssembledPage<usize>>) {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    let mut pos = Position::START;
    for _ in 0..10_000 {
        let p = page(v, pos.clone(), limit).await;
        assert!(p.items.len() <= limit);
        all.extend(p.items.iter().copied());
        let next = p.next.clone();
        pages.push(p);
        match next {
            Some(n) => pos = n,
            None => return (all, pages),
        }
    }
    panic!("walk did not end");
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}
