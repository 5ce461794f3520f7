//! Property tests of the paging contract: for random data sizes, vendor page sizes and
//! client limits, walking the cursors yields every item exactly once, in order; a cursor
//! with any character changed is refused.

mod fake_vendor;

use std::sync::atomic::Ordering;

use creditgate::model::ProviderKind;
use creditgate::paging::{
    concat_page, AssembledPage, ConcatSource, CursorCodec, CursorScope, HasMore, PageAssembler, Position, VendorPage,
    VendorPager,
};
use creditgate::secret::Secret;
use creditgate::ApiError;
use fake_vendor::*;
use proptest::prelude::*;

/// (items, vendor page size, client limit). Half the time the data is a whole number of
/// vendor pages and often the limit a multiple of the vendor page: the boundaries where a
/// vendor without `has_more` leaves the walk unsure whether more follows.
fn sizes() -> impl Strategy<Value = (usize, usize, usize)> {
    (
        1usize..60,
        0usize..8,
        any::<bool>(),
        0usize..60,
        0usize..3,
        1usize..=500,
    )
        .prop_map(|(page, pages, whole, extra, limit_kind, random_limit)| {
            let n = page * pages + if whole { 0 } else { extra % page };
            let limit = match limit_kind {
                0 => random_limit,
                1 => 1 + random_limit % 20,
                _ => (page * (1 + random_limit % 3)).min(500),
            };
            (n, page, limit)
        })
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Token),
        Just(Style::ItemKeyed),
        Just(Style::ItemKeyedNoHasMore),
        Just(Style::TokenSparse)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn forward_walk_yields_every_item_once_in_order((n, vendor_page, limit) in sizes(), style in style()) {
        rt().block_on(async {
            let v = vendor(n, vendor_page, style);
            let (all, pages) = walk_forward(&v, limit).await;
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
            // Only the last page may have fewer than `limit` items, and no page after the
            // first is empty: the client never gets a `has_more` that leads to nothing.
            for (i, p) in pages.iter().enumerate() {
                let last = i + 1 == pages.len();
                prop_assert_eq!(p.next.is_none(), last);
                if !last {
                    prop_assert_eq!(p.items.len(), limit);
                }
                if i > 0 {
                    prop_assert!(!p.items.is_empty(), "empty page {} of {}", i, pages.len());
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn backward_walk_from_the_end_yields_every_item_once(n in 1usize..300, vendor_page in 1usize..40, limit in 1usize..=120, token_style in any::<bool>()) {
        rt().block_on(async {
            let v = vendor(n, vendor_page, if token_style { Style::Token } else { Style::ItemKeyed });
            let (_, pages) = walk_forward(&v, limit).await;
            let last = pages.last().unwrap();
            let mut seen: Vec<usize> = last.items.clone();
            let mut prev = last.previous.clone();
            prop_assert_eq!(prev.is_none(), pages.len() == 1 || last.items.is_empty());
            let mut guard = 0;
            while let Some(pos) = prev {
                let p = page(&v, pos, limit).await;
                prop_assert!(!p.items.is_empty());
                // Paging back then forward again lands right after this page.
                let forward = page(&v, p.next.clone().unwrap(), limit).await;
                prop_assert_eq!(forward.items.first().copied(), Some(p.items.last().unwrap() + 1));
                let mut chunk = p.items.clone();
                chunk.extend(seen);
                seen = chunk;
                prev = p.previous;
                guard += 1;
                prop_assert!(guard < 10_000);
            }
            prop_assert_eq!(seen, (0..n).collect::<Vec<_>>());
            Ok(())
        })?;
    }

    #[test]
    fn a_whole_collection_reads_each_vendor_page_once_and_stops_past_its_bound(n in 0usize..300, vendor_page in 1usize..40, max in 0usize..320, style in style()) {
        rt().block_on(async {
            let v = vendor(n, vendor_page, style);
            let p = PageAssembler::new(&v, ProviderKind::Stripe).collect(max).await.unwrap();
            let calls = v.calls.load(Ordering::Relaxed);
            if n <= max {
                prop_assert_eq!(p.items, (0..n).collect::<Vec<_>>());
                prop_assert_eq!(p.next, None);
            } else {
                // Past `max`: stopped at the end of the vendor page that took it there (or
                // the last page, when that was it).
                prop_assert!(p.items.len() > max);
                prop_assert_eq!(&p.items, &(0..p.items.len()).collect::<Vec<_>>());
                match p.next.clone() {
                    None => prop_assert_eq!(p.items.len(), n),
                    Some(next) => {
                        let again = PageAssembler::new(&v, ProviderKind::Stripe).page(next, 500).await.unwrap();
                        // Right after the last; or nothing, where the vendor could not say it had no more.
                        match again.items.first() {
                            Some(first) => prop_assert_eq!(*first, p.items.len()),
                            None => prop_assert_eq!(p.items.len(), n),
                        }
                    }
                }
            }
            // No vendor page read twice: as many calls as a walk over every page makes, or fewer.
            let walked = vendor(n, vendor_page, style);
            PageAssembler::new(&walked, ProviderKind::Stripe).walk(|_| {}).await.unwrap();
            prop_assert!(calls <= walked.calls.load(Ordering::Relaxed), "{} calls", calls);
            if n <= max {
                prop_assert_eq!(calls, walked.calls.load(Ordering::Relaxed));
            }
            Ok(())
        })?;
    }

    #[test]
    fn filtered_walks_keep_exactly_the_matching_items(n in 0usize..300, vendor_page in 1usize..40, limit in 1usize..=100, modulo in 1usize..5, style in style()) {
        rt().block_on(async {
            let v = vendor(n, vendor_page, style);
            let keep = move |i: &usize| i % modulo == 0;
            let mut all = Vec::new();
            let mut pos = Position::START;
            loop {
                let p = PageAssembler::new(&v, ProviderKind::Stripe).with_filter(&keep).page(pos, limit).await.unwrap();
                all.extend(p.items);
                match p.next { Some(next) => pos = next, None => break }
            }
            prop_assert_eq!(all, (0..n).filter(|i| i % modulo == 0).collect::<Vec<_>>());
            Ok(())
        })?;
    }

    #[test]
    fn a_changed_cursor_character_is_refused(token in "[a-z0-9_]{0,40}", offset in 0usize..1000, at in any::<prop::sample::Index>(), replacement in any::<prop::sample::Index>()) {
        let codec = CursorCodec::new(&Secret::new("cursor-secret"));
        let scope = CursorScope { tenant: "t".into(), endpoint: "credit_grants".into(), customer: "stripe:cus_1".into(), filters: "f".into() };
        let cursor = codec.encode(&scope, ProviderKind::Stripe, &Position::Forward { token: Some(token), offset });
        let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars().collect();
        let mut chars: Vec<char> = cursor.chars().collect();
        let i = at.index(chars.len());
        let mut c = *replacement.get(&alphabet);
        if c == chars[i] {
            c = if c == 'A' { 'B' } else { 'A' };
        }
        chars[i] = c;
        let tampered: String = chars.into_iter().collect();
        let err = codec.decode(&scope, &tampered).unwrap_err();
        prop_assert_eq!(err.type_and_code().1, "invalid_cursor");
    }
}

/// Several fake vendors concatenated, as one customer across providers.
struct Concatenated(Vec<FakeVendor>);

impl ConcatSource for Concatenated {
    type Item = (usize, usize);

    fn parts(&self) -> usize {
        self.0.len()
    }

    async fn page(
        &self,
        part: usize,
        position: Position,
        limit: usize,
    ) -> Result<AssembledPage<(usize, usize)>, ApiError> {
        let p = PageAssembler::new(&self.0[part], ProviderKind::ALL[part])
            .page(position, limit)
            .await?;
        Ok(AssembledPage {
            items: p.items.into_iter().map(|i| (part, i)).collect(),
            next: p.next,
            previous: p.previous,
        })
    }
}

fn vendors() -> impl Strategy<Value = Vec<(usize, usize, Style)>> {
    prop::collection::vec((prop_oneof![Just(0usize), 0usize..80], 1usize..30, style()), 2..=5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn composite_cursor_walks_every_vendor_item_exactly_once(specs in vendors(), limit in prop_oneof![1usize..=500, 1usize..=12]) {
        rt().block_on(async {
            let source = Concatenated(specs.iter().map(|(n, page, style)| vendor(*n, *page, *style)).collect());
            let codec = CursorCodec::new(&Secret::new("k"));
            let scope = CursorScope { tenant: "t".into(), endpoint: "credit_ledger_entries".into(), customer: "acme".into(), filters: "f".into() };
            let mut cursor: Option<String> = None;
            let mut seen = Vec::new();
            for page_number in 0..100_000 {
                let start = match &cursor {
                    None => (0, Position::START),
                    Some(c) => {
                        let (provider, position) = codec.decode(&scope, c).unwrap();
                        (ProviderKind::ALL.iter().position(|p| *p == provider).unwrap(), position)
                    }
                };
                let page = concat_page(&source, start, limit).await.unwrap();
                prop_assert!(page.items.len() <= limit);
                prop_assert!(page.previous.is_none(), "no backward paging across vendors");
                if page_number > 0 {
                    prop_assert!(!page.items.is_empty(), "empty page {}", page_number);
                }
                seen.extend(page.items);
                match page.next {
                    Some((part, position)) => cursor = Some(codec.encode(&scope, ProviderKind::ALL[part], &position)),
                    None => break,
                }
            }
            let expected: Vec<(usize, usize)> = specs.iter().enumerate().flat_map(|(part, (n, _, _))| (0..*n).map(move |i| (part, i))).collect();
            prop_assert_eq!(seen, expected);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_page_of_500_from_25_item_vendor_pages_takes_20_calls() {
    let v = vendor(1000, 25, Style::Token);
    let p = page(&v, Position::START, 500).await;
    assert_eq!(p.items, (0..500).collect::<Vec<_>>());
    assert_eq!(v.calls.load(Ordering::Relaxed), 20);
    assert_eq!(
        p.next,
        Some(Position::Forward {
            token: Some("page_20".into()),
            offset: 0
        })
    );
}

#[tokio::test]
async fn a_full_last_page_without_has_more_is_not_followed_by_an_empty_page() {
    for limit in [3, 6, 7] {
        let v = vendor(6, 3, Style::ItemKeyedNoHasMore);
        let (all, pages) = walk_forward(&v, limit).await;
        assert_eq!(all, (0..6).collect::<Vec<_>>());
        assert!(pages.iter().all(|p| !p.items.is_empty()), "limit {limit}");
        assert_eq!(pages.len(), 6usize.div_ceil(limit), "limit {limit}");
    }
}

#[tokio::test]
async fn offsets_inside_token_pages_are_kept() {
    let v = vendor(10, 4, Style::Token);
    let p = page(&v, Position::START, 3).await;
    assert_eq!(p.items, vec![0, 1, 2]);
    assert_eq!(p.next, Some(Position::Forward { token: None, offset: 3 }));
    let p = page(&v, p.next.unwrap(), 3).await;
    assert_eq!(p.items, vec![3, 4, 5]);
    assert_eq!(
        p.next,
        Some(Position::Forward {
            token: Some("page_1".into()),
            offset: 2
        })
    );
}

/// A vendor that misbehaves in one of the ways the loop guard must stop.
struct LyingVendor {
    repeat_token: bool,
}

impl VendorPager for LyingVendor {
    type Item = usize;
    async fn vendor_page(&self, _token: Option<&str>) -> Result<VendorPage<usize>, ApiError> {
        Ok(VendorPage {
            items: vec![1],
            has_more: HasMore::Yes,
            next_token: self.repeat_token.then(|| "same".to_owned()),
            prev_token: None,
        })
    }
    fn item_key(&self, _item: &usize) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn loop_guard_stops_repeated_cursors_and_missing_cursors() {
    for (repeat_token, expected) in [(true, "twice"), (false, "gave no cursor")] {
        let v = LyingVendor { repeat_token };
        let err = PageAssembler::new(&v, ProviderKind::Togai)
            .page(Position::START, 500)
            .await
            .unwrap_err();
        assert_eq!(err.type_and_code().1, "upstream_invalid_response");
        assert_eq!(err.status().as_u16(), 502);
        assert!(err.to_string().contains(expected), "{err}");
        let err = PageAssembler::new(&v, ProviderKind::Togai)
            .walk(|_| {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[tokio::test]
async fn backward_cursors_are_refused_where_the_vendor_cannot_page_backwards() {
    let v = vendor(10, 3, Style::ItemKeyedNoHasMore);
    let err = PageAssembler::new(&v, ProviderKind::Togai)
        .page(Position::Backward { before: "x".into() }, 3)
        .await
        .unwrap_err();
    assert_eq!(err.type_and_code().1, "invalid_cursor");
}

/// A list that pages backwards by page token only (like Sequence).
struct PagesBackByToken;

impl VendorPager for PagesBackByToken {
    type Item = usize;
    async fn vendor_page(&self, _token: Option<&str>) -> Result<VendorPage<usize>, ApiError> {
        Ok(VendorPage {
            items: vec![1, 2],
            has_more: HasMore::No,
            next_token: None,
            prev_token: None,
        })
    }
    fn item_key(&self, _item: &usize) -> Option<String> {
        None
    }
    fn pages_backward(&self) -> bool {
        true
    }
}

/// Issue 17, defect 6: a forged cursor asking a token-paged list for the page before an
/// item was a 500; it is a cursor the list never makes, so a 400.
#[tokio::test]
async fn an_item_keyed_backward_cursor_on_a_token_paged_list_is_a_bad_cursor() {
    let err = PageAssembler::new(&PagesBackByToken, ProviderKind::Sequence)
        .page(Position::Backward { before: "x".into() }, 3)
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.type_and_code().1), (400, "invalid_cursor"));
}
