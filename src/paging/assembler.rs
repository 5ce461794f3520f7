//! Turns any vendor paging style into the contract's pages: fills any `limit` from vendor
//! pages of any size, remembers the offset inside a vendor page, pages backwards where the
//! vendor can, and stops a vendor that loops or lies about having more.

use std::collections::{HashSet, VecDeque};
use std::future::Future;

use crate::error::ApiError;
use crate::error::UpstreamError;
use crate::model::ProviderKind;
use crate::paging::Position;

/// Vendor calls one client page may take before the walk is declared a loop.
/// (500 items from Metronome's 25-item pages is 20 calls; empty vendor pages add a few.)
pub const MAX_CALLS_PER_PAGE: usize = 1_000;
/// Vendor calls a full walk (a balance read, a grant's whole ledger) may take.
pub const MAX_CALLS_PER_WALK: usize = 100_000;

/// Whether the vendor says more items follow a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasMore {
    No,
    Yes,
    /// The vendor does not say for sure (Vayu gives no `has_more`; Togai's last page may
    /// still carry a token): the following pages may all be empty. The pager reports `No`
    /// as soon as it sees the end; before ending a client page on a `Maybe`, the assembler
    /// looks ahead so that `has_more` never leads the client to an empty page.
    Maybe,
}

impl HasMore {
    fn continues(self) -> bool {
        !matches!(self, HasMore::No)
    }
}

/// One vendor page, already normalized.
#[derive(Debug)]
pub struct VendorPage<T> {
    pub items: Vec<T>,
    pub has_more: HasMore,
    /// The vendor token that fetches the following page.
    pub next_token: Option<String>,
    /// The vendor token that fetches the page before this one, for token vendors that
    /// page backwards (Sequence's `pagination.before`).
    pub prev_token: Option<String>,
}

impl<T> VendorPage<T> {
    /// The whole list in one page (vendors that do not paginate an endpoint).
    pub fn whole(items: Vec<T>) -> Self {
        VendorPage {
            items,
            has_more: HasMore::No,
            next_token: None,
            prev_token: None,
        }
    }
}

/// The vendor page that ends right before an item, in list order.
#[derive(Debug)]
pub struct BackwardPage<T> {
    pub items: Vec<T>,
    pub more_before: bool,
}

/// One vendor list endpoint, bound to its query (customer, filters...).
pub trait VendorPager: Sync {
    type Item: Send;

    /// Fetches the page that starts at `token` (`None`: the first page).
    fn vendor_page(&self, token: Option<&str>)
        -> impl Future<Output = Result<VendorPage<Self::Item>, ApiError>> + Send;

    /// For item-keyed vendors (Stripe's `starting_after`): the token that resumes right
    /// after `item`, which is also the key `fetch_before` takes. `None` for vendors whose
    /// tokens are opaque page handles; the cursor then keeps an offset into the page.
    fn item_key(&self, item: &Self::Item) -> Option<String>;

    /// Whether the list pages backwards: item-keyed vendors through
    /// [`VendorPager::fetch_before`], token vendors through [`VendorPage::prev_token`].
    fn pages_backward(&self) -> bool {
        false
    }

    /// Fetches the items just before the item keyed `before`. Lists that do not page
    /// backwards by item never make a cursor that asks this, so one that does was not
    /// made by creditgate for this list.
    fn vendor_page_before(
        &self,
        before: &str,
    ) -> impl Future<Output = Result<BackwardPage<Self::Item>, ApiError>> + Send {
        let _ = before;
        async { Err(ApiError::invalid_cursor("this list does not page backwards by item")) }
    }
}

/// A client page: the items and where the neighbouring pages start.
#[derive(Debug)]
pub struct AssembledPage<T> {
    pub items: Vec<T>,
    /// `None` exactly when there is nothing after this page.
    pub next: Option<Position>,
    /// Set only where the vendor pages backwards and items exist before this page.
    pub previous: Option<Position>,
}

/// Stops walks that would never end: a repeated vendor token, "more" without a token, or
/// more calls than any honest walk needs.
struct LoopGuard {
    provider: ProviderKind,
    seen: HashSet<Option<String>>,
    calls: usize,
    max_calls: usize,
}

impl LoopGuard {
    fn new(provider: ProviderKind, max_calls: usize) -> Self {
        LoopGuard {
            provider,
            seen: HashSet::new(),
            calls: 0,
            max_calls,
        }
    }

    fn before_vendor_call(&mut self, token: Option<&str>) -> Result<(), ApiError> {
        self.calls += 1;
        if self.calls > self.max_calls {
            return Err(self.broken(format!("more than {} pages for one request", self.max_calls)));
        }
        if !self.seen.insert(token.map(str::to_owned)) {
            return Err(self.broken(format!(
                "it returned the cursor `{}` twice",
                token.unwrap_or("<first page>")
            )));
        }
        Ok(())
    }

    fn next_token(&self, next_token: Option<String>) -> Result<String, ApiError> {
        match next_token {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(self.broken("it said more items follow but gave no cursor".into())),
        }
    }

    fn broken(&self, why: String) -> ApiError {
        UpstreamError::invalid(self.provider, format!("paging loop stopped: {why}")).into()
    }
}

/// Fills client pages from one vendor list. `keep` drops items a filter excludes
/// (offsets still count every raw vendor item, so filtered walks stay exact).
pub struct PageAssembler<'a, P: VendorPager> {
    pager: &'a P,
    provider: ProviderKind,
    keep: &'a (dyn Fn(&P::Item) -> bool + Sync),
}

fn keep_all<T>(_: &T) -> bool {
    true
}

impl<'a, P: VendorPager> PageAssembler<'a, P> {
    pub fn new(pager: &'a P, provider: ProviderKind) -> Self {
        PageAssembler {
            pager,
            provider,
            keep: &keep_all::<P::Item>,
        }
    }

    pub fn with_filter(mut self, keep: &'a (dyn Fn(&P::Item) -> bool + Sync)) -> Self {
        self.keep = keep;
        self
    }

    /// The page of at most `limit` items at `position`.
    pub async fn page(&self, position: Position, limit: usize) -> Result<AssembledPage<P::Item>, ApiError> {
        match position {
            Position::Forward { token, offset } => self.forward(token, offset, limit).await,
            Position::Backward { before } => {
                self.require_backward()?;
                self.backward(before, limit).await
            }
            Position::Before { token, offset } => {
                self.require_backward()?;
                self.backward_by_page(token, offset, limit).await
            }
        }
    }

    fn require_backward(&self) -> Result<(), ApiError> {
        if self.pager.pages_backward() {
            Ok(())
        } else {
            Err(ApiError::invalid_cursor(format!(
                "{} cannot page backwards",
                self.provider
            )))
        }
    }

    async fn guarded_page(&self, guard: &mut LoopGuard, token: Option<&str>) -> Result<VendorPage<P::Item>, ApiError> {
        guard.before_vendor_call(token)?;
        self.pager.vendor_page(token).await
    }

    async fn forward(
        &self,
        mut token: Option<String>,
        mut offset: usize,
        limit: usize,
    ) -> Result<AssembledPage<P::Item>, ApiError> {
        let start = (token.clone(), offset);
        let from_start = token.is_none() && offset == 0;
        let mut guard = LoopGuard::new(self.provider, MAX_CALLS_PER_PAGE);
        let mut items = Vec::with_capacity(limit.min(512));
        let next = loop {
            let VendorPage {
                items: raw,
                has_more,
                next_token,
                ..
            } = self.guarded_page(&mut guard, token.as_deref()).await?;
            let len = raw.len();
            let mut consumed = offset.min(len);
            let mut rest = raw.into_iter().skip(consumed);
            let mut last_key = None;
            while items.len() < limit {
                let Some(item) = rest.next() else { break };
                consumed += 1;
                last_key = self.pager.item_key(&item);
                if (self.keep)(&item) {
                    items.push(item);
                }
            }
            if consumed < len && rest.any(|item| (self.keep)(&item)) {
                // Filled inside this vendor page: resume after the last item taken.
                break Some(match last_key {
                    Some(key) => Position::Forward {
                        token: Some(key),
                        offset: 0,
                    },
                    None => Position::Forward {
                        token,
                        offset: consumed,
                    },
                });
            }
            if !has_more.continues() {
                break None;
            }
            token = Some(guard.next_token(next_token)?);
            offset = 0;
            if items.len() == limit {
                if has_more == HasMore::Maybe && !self.any_item_from(&mut guard, token.clone()).await? {
                    break None;
                }
                break Some(Position::Forward { token, offset: 0 });
            }
        };
        let previous = match items.first() {
            _ if !self.pager.pages_backward() || from_start => None,
            Some(first) => match self.pager.item_key(first) {
                Some(before) => Some(Position::Backward { before }),
                None => Some(Position::Before {
                    token: start.0,
                    offset: Some(start.1),
                }),
            },
            None => None,
        };
        Ok(AssembledPage { items, next, previous })
    }

    /// Walks back from raw item `offset` of the page `token` fetches, through each page's
    /// `prev_token`, collecting up to `limit` items; what follows is the starting position.
    async fn backward_by_page(
        &self,
        token: Option<String>,
        offset: Option<usize>,
        limit: usize,
    ) -> Result<AssembledPage<P::Item>, ApiError> {
        let mut guard = LoopGuard::new(self.provider, MAX_CALLS_PER_PAGE);
        let mut collected = VecDeque::with_capacity(limit.min(512));
        let (mut page_token, mut end) = (token.clone(), offset);
        let mut start_offset = None;
        let previous = loop {
            let page = self.guarded_page(&mut guard, page_token.as_deref()).await?;
            let mut raw = page.items;
            let mut cut = end.map_or(raw.len(), |e| e.min(raw.len()));
            raw.truncate(cut);
            start_offset.get_or_insert(cut);
            while collected.len() < limit {
                let Some(item) = raw.pop() else { break };
                cut -= 1;
                if (self.keep)(&item) {
                    collected.push_front(item);
                }
            }
            let prev = page.prev_token.filter(|t| !t.is_empty());
            if collected.len() == limit {
                break if raw.iter().any(|item| (self.keep)(item)) {
                    Some(Position::Before {
                        token: page_token,
                        offset: Some(cut),
                    })
                } else {
                    prev.map(|t| Position::Before {
                        token: Some(t),
                        offset: None,
                    })
                };
            }
            let Some(prev) = prev else { break None };
            page_token = Some(prev);
            end = None;
        };
        let next = Some(Position::Forward {
            token,
            offset: start_offset.unwrap_or(0),
        });
        Ok(AssembledPage {
            items: collected.into(),
            next,
            previous,
        })
    }

    /// Whether any item is left from the page `token` fetches onwards (skipping empty pages).
    async fn any_item_from(&self, guard: &mut LoopGuard, mut token: Option<String>) -> Result<bool, ApiError> {
        loop {
            let page = self.guarded_page(guard, token.as_deref()).await?;
            if !page.items.is_empty() {
                return Ok(true);
            }
            if !page.has_more.continues() {
                return Ok(false);
            }
            token = Some(guard.next_token(page.next_token)?);
        }
    }

    async fn backward(&self, before: String, limit: usize) -> Result<AssembledPage<P::Item>, ApiError> {
        let mut guard = LoopGuard::new(self.provider, MAX_CALLS_PER_PAGE);
        let mut collected = VecDeque::with_capacity(limit.min(512));
        let mut cursor = before;
        let previous = loop {
            guard.before_vendor_call(Some(&cursor))?;
            let page = self.pager.vendor_page_before(&cursor).await?;
            let first_key = page.items.first().and_then(|item| self.pager.item_key(item));
            let mut rest = page.items.into_iter().rev();
            while collected.len() < limit {
                let Some(item) = rest.next() else { break };
                if (self.keep)(&item) {
                    collected.push_front(item);
                }
            }
            let more_here = rest.any(|item| (self.keep)(&item));
            if collected.len() == limit {
                break if more_here || page.more_before {
                    collected
                        .front()
                        .and_then(|item| self.pager.item_key(item))
                        .map(|before| Position::Backward { before })
                } else {
                    None
                };
            }
            if !page.more_before {
                break None;
            }
            cursor = guard.next_token(first_key)?;
        };
        // Coming backwards there is always something after this page; with nothing kept
        // before it, the forward walk from the start is exactly what follows.
        let next = match collected.back() {
            Some(last) => self.pager.item_key(last).map(|key| Position::Forward {
                token: Some(key),
                offset: 0,
            }),
            None => Some(Position::START),
        };
        Ok(AssembledPage {
            items: collected.into(),
            next,
            previous,
        })
    }

    /// Visits every item of the list, in order (balances, a grant's whole ledger).
    /// Every item kept, in one walk from the start; past `max` items the walk stops at the
    /// end of that vendor page and `next` says where it would go on.
    pub async fn collect(&self, max: usize) -> Result<AssembledPage<P::Item>, ApiError> {
        let mut guard = LoopGuard::new(self.provider, MAX_CALLS_PER_WALK);
        let mut token: Option<String> = None;
        let mut items = Vec::new();
        loop {
            let page = self.guarded_page(&mut guard, token.as_deref()).await?;
            items.extend(page.items.into_iter().filter(|item| (self.keep)(item)));
            if !page.has_more.continues() {
                return Ok(AssembledPage {
                    items,
                    next: None,
                    previous: None,
                });
            }
            let next = guard.next_token(page.next_token)?;
            if items.len() > max {
                return Ok(AssembledPage {
                    items,
                    next: Some(Position::Forward {
                        token: Some(next),
                        offset: 0,
                    }),
                    previous: None,
                });
            }
            token = Some(next);
        }
    }

    pub async fn walk(&self, mut visit: impl FnMut(P::Item) + Send) -> Result<(), ApiError> {
        let mut guard = LoopGuard::new(self.provider, MAX_CALLS_PER_WALK);
        let mut token: Option<String> = None;
        loop {
            let page = self.guarded_page(&mut guard, token.as_deref()).await?;
            page.items
                .into_iter()
                .filter(|item| (self.keep)(item))
                .for_each(&mut visit);
            if !page.has_more.continues() {
                return Ok(());
            }
            token = Some(guard.next_token(page.next_token)?);
        }
    }
}
