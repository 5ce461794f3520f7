//! Page numbers walked exactly once.
//!
//! Lago pages by number (`page`, `per_page`; `meta.next_page`), newest first (`created_at`
//! descending). A page number is an offset: an item created during a walk pushes every
//! later item one place down (the item at a page boundary comes again), an item removed
//! pulls them up (one is skipped). So creditgate never resumes at a page number. It resumes
//! after a *place*: the key of the last item passed says its `created_at` second `T` and
//! which items of that second were passed (a 48-bit hash of each id), plus the offset where
//! the walk stood, as a hint. Relative to a key, every item is either
//!
//! - **passed**: created after `T`, or created in `T` and among the passed ids, or
//! - **ahead**: everything else,
//!
//! which depends on the item alone, not on where it stands now. Among the items that were
//! there for the whole walk the passed ones come first, since `created_at` does not change
//! and Lago's order inside a second does not either.
//!
//! Every decision is made on one vendor answer, never on two (the list may change between
//! them): resuming reads a *window* (a page, with a `per_page` chosen so that it holds the
//! hinted offset and the item before it) and serves its items ahead only if it opens with a
//! passed item, which proves that nothing ahead comes before it, and *closes*: it holds the
//! key's own item or an older one, which proves that no passed item comes after it. A
//! window that opens ahead (items were removed) makes the walk look before it; one with
//! nothing ahead (items were added) makes it look after it; one that does not close is
//! read again wider. So an item present for the whole walk is served exactly once; a new
//! item is served when it lands ahead of the walk, after the last passed item (one created
//! between passed items is behind it, and left out). Backwards is the mirror: the page
//! before an item is the items its key passed, less the item itself, read from a window
//! that closes with an item after them.
//!
//! Lago's `created_at` has whole seconds while its order breaks ties on finer times, so a
//! key holds every id passed in its second, up to [`MAX_SAME_SECOND`]. Past that it keeps
//! the newest and marks itself *overflowed*, and an item of that second not among them counts
//! as passed when a kept one follows it in the window (true of every item that was there all
//! along). What that cannot see is an item of an overflowed second in a window holding none
//! of the kept ones, which only a removal inside that same second can bring about.
//! README.md, "Lago", states this limit.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, UpstreamError};
use crate::model::ProviderKind;
use crate::paging::{BackwardPage, HasMore, VendorPage, VendorPager};

/// Ids of one `created_at` second a key holds before it overflows.
pub const MAX_SAME_SECOND: usize = 256;
/// Characters of one id's hash in a key (48 bits, base64url).
const HASH_CHARS: usize = 8;
/// Windows one step may read while the list moves under it before the walk is declared broken.
const MAX_SEEK_STEPS: usize = 1_000;

/// One page of a page-numbered list, as the vendor answered it.
#[derive(Debug)]
pub struct NumberedPage<T> {
    pub items: Vec<T>,
    /// `meta.next_page` is set: a page follows.
    pub next_page: bool,
    /// `meta.total_count`.
    pub total_count: u64,
}

/// Where an item stands: its `created_at` (Unix seconds) and its vendor id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub at: i64,
    pub id: &'a str,
}

/// One page-numbered list, newest first, bound to its query.
pub trait NumberedList: Sync {
    type Item: Send;

    /// The page numbered `page` (from 1) of `per_page` items.
    fn fetch(&self, page: u64, per_page: u64)
        -> impl Future<Output = Result<NumberedPage<Self::Item>, ApiError>> + Send;

    /// The page size a walk reads by (it reads other sizes only to straddle a page end).
    fn per_page(&self) -> u64;

    fn place<'i>(&self, item: &'i Self::Item) -> Place<'i>;
}

/// Resume "after an item": see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The offset of the first item ahead, when the key was made.
    hint: u64,
    /// `created_at` of the last item passed.
    at: i64,
    /// Hashes of the items of second `at` passed, oldest first (the last one is the item's).
    passed: Vec<u64>,
    /// Older hashes of second `at` were dropped (more than [`MAX_SAME_SECOND`]).
    overflowed: bool,
}

fn id_hash(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    digest[..6].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

impl Key {
    /// The key after the last item of a list: every item is passed, none is its own. The
    /// walk looks for the list's end from offset `hint` (an offset past the end works).
    pub fn end(hint: u64) -> Key {
        Key {
            hint,
            at: i64::MIN,
            passed: vec![0],
            overflowed: false,
        }
    }

    /// `<hint>.<at>.<o|x>.<hash>…`, each hash [`HASH_CHARS`] characters.
    pub fn encode(&self) -> String {
        let mut out = format!("{}.{}.{}.", self.hint, self.at, if self.overflowed { 'x' } else { 'o' });
        for hash in &self.passed {
            out.push_str(&URL_SAFE_NO_PAD.encode(&hash.to_be_bytes()[2..]));
        }
        out
    }

    pub fn decode(token: &str) -> Result<Key, ApiError> {
        let bad = || ApiError::invalid_cursor("the cursor's page-number position is malformed");
        let mut parts = token.splitn(4, '.');
        let (Some(hint), Some(at), Some(flag), Some(hashes)) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let hint: u64 = hint.parse().map_err(|_| bad())?;
        let at: i64 = at.parse().map_err(|_| bad())?;
        let overflowed = match flag {
            "o" => false,
            "x" => true,
            _ => return Err(bad()),
        };
        if hashes.is_empty() || hashes.len() % HASH_CHARS != 0 || hashes.len() / HASH_CHARS > MAX_SAME_SECOND {
            return Err(bad());
        }
        let passed = hashes
            .as_bytes()
            .chunks(HASH_CHARS)
            .map(|chunk| {
                let bytes = URL_SAFE_NO_PAD.decode(chunk).map_err(|_| bad())?;
                Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            })
            .collect::<Result<Vec<u64>, ApiError>>()?;
        Ok(Key {
            hint,
            at,
            passed,
            overflowed,
        })
    }

    /// Whether `place` was passed by the walk this key resumes (`later` holds the places
    /// after it in the same window, for an overflowed key).
    fn passed(&self, place: Place<'_>, later: &[Place<'_>]) -> bool {
        if self.at == i64::MIN {
            return true;
        }
        if place.at != self.at {
            return place.at > self.at;
        }
        self.passed.contains(&id_hash(place.id))
            || (self.overflowed
                && later
                    .iter()
                    .any(|p| p.at == self.at && self.passed.contains(&id_hash(p.id))))
    }

    /// Whether `place` is this key's own item.
    fn is_own(&self, place: Place<'_>) -> bool {
        place.at == self.at && self.at != i64::MIN && self.passed.last() == Some(&id_hash(place.id))
    }

    /// Whether `place` proves that none of this key's passed items follow it: it is older
    /// than the key's second, or the key's own item.
    fn closes(&self, place: Place<'_>) -> bool {
        (place.at < self.at && self.at != i64::MIN) || self.is_own(place)
    }
}

/// The ids of one second passed so far, while a window is read in order: the key of each item.
#[derive(Debug, Clone, Default)]
struct Run {
    at: Option<i64>,
    passed: Vec<u64>,
    overflowed: bool,
}

impl Run {
    fn from_key(key: &Key) -> Run {
        Run {
            at: (key.at != i64::MIN).then_some(key.at),
            passed: key.passed.clone(),
            overflowed: key.overflowed,
        }
    }

    /// Passes `place`, which stands at `offset`, and returns its key.
    fn pass(&mut self, place: Place<'_>, offset: u64) -> Key {
        if self.at != Some(place.at) {
            *self = Run {
                at: Some(place.at),
                ..Run::default()
            };
        }
        let hash = id_hash(place.id);
        self.passed.retain(|h| *h != hash);
        self.passed.push(hash);
        if self.passed.len() > MAX_SAME_SECOND {
            self.passed.remove(0);
            self.overflowed = true;
        }
        Key {
            hint: offset + 1,
            at: place.at,
            passed: self.passed.clone(),
            overflowed: self.overflowed,
        }
    }
}

/// One vendor answer: the items from offset `start`.
struct Window<T> {
    start: u64,
    items: Vec<T>,
    /// Items follow the window.
    more: bool,
    total_count: u64,
}

impl<T> Window<T> {
    fn end(&self) -> u64 {
        self.start + self.items.len() as u64
    }
}

/// The page (number, size) that holds offsets `boundary - 1` and `boundary`: the walk's own
/// page size where the boundary falls inside one of its pages; at one of its pages' ends,
/// the size up to twice as large whose page holds the most items from the boundary on.
fn layout(per_page: u64, boundary: u64) -> (u64, u64) {
    let k = per_page.max(1);
    if boundary == 0 || boundary % k != 0 {
        return (boundary / k + 1, k);
    }
    let size = (k + 1..=(2 * k).max(k + 2))
        .take(64)
        .filter(|m| boundary % m != 0)
        .max_by_key(|m| m - boundary % m)
        .unwrap_or(boundary + 1);
    (boundary / size + 1, size)
}

/// Most a window grows past the walk's page size (while items keep being added under it,
/// or to hold a whole second): past the longest list, so in practice never reached.
const MAX_WIDEN: u64 = 1 << 24;

/// The window at `boundary`, `widen` times the walk's page size.
async fn window<L: NumberedList>(list: &L, boundary: u64, widen: u64) -> Result<Window<L::Item>, ApiError> {
    let (page, size) = layout(list.per_page().saturating_mul(widen), boundary);
    let answer = list.fetch(page, size).await?;
    Ok(Window {
        start: (page - 1) * size,
        items: answer.items,
        more: answer.next_page,
        total_count: answer.total_count,
    })
}

fn places<'i, L: NumberedList>(list: &L, items: &'i [L::Item]) -> Vec<Place<'i>> {
    items.iter().map(|i| list.place(i)).collect()
}

/// Where to look when a window came back empty: the list's end, if it shrank below the
/// boundary; `None` when there is nothing before either.
fn shrunk(boundary: u64, total_count: u64) -> Option<u64> {
    (boundary > 0).then(|| total_count.min(boundary - 1))
}

/// What a forward step gives.
#[derive(Debug)]
pub struct Forward<T> {
    /// The items ahead of the key, in order, each with its own key.
    pub items: Vec<(T, Key)>,
    /// Where the following step starts (`None` at the end of the list).
    pub next: Option<Key>,
}

fn broken(provider: ProviderKind, why: &str) -> ApiError {
    UpstreamError::invalid(provider, format!("page-number walk stopped: {why}")).into()
}

/// The items after `key` (`None`: from the start of the list) that one window holds.
pub async fn forward<L: NumberedList>(
    list: &L,
    provider: ProviderKind,
    key: Option<&Key>,
) -> Result<Forward<L::Item>, ApiError> {
    let mut boundary = key.map_or(0, |k| k.hint);
    // Doubled each time items added under the walk leave a window behind it.
    let mut widen = 1;
    for _ in 0..MAX_SEEK_STEPS {
        let w = window(list, boundary, widen).await?;
        if w.items.is_empty() {
            match shrunk(boundary, w.total_count) {
                Some(earlier) if earlier < boundary => {
                    boundary = earlier;
                    continue;
                }
                _ => return Ok(Forward { items: Vec::new(), next: None }),
            }
        }
        let Some(key) = key else {
            return Ok(serve(list, w, None, 0));
        };
        let seen = places(list, &w.items);
        let opens_passed = w.start == 0 || key.passed(seen[0], &seen[1..]);
        // The walk stands after the last passed item: an item not passed that lies before it
        // was created behind the walk (it is new, and not served, so that what a step serves
        // is in Lago's order after everything the key passed).
        let first_ahead = (0..seen.len())
            .rev()
            .find(|&i| key.passed(seen[i], &seen[i + 1..]))
            .map_or(0, |i| i + 1);
        let any_ahead = first_ahead < seen.len();
        // The passed items end inside this window only if it holds the key's own item or
        // an older one; before either, a passed item may still follow the window, and
        // an item not passed could be one created behind the walk.
        let closes = !w.more || seen.iter().any(|p| key.closes(*p));
        drop(seen);
        if !opens_passed {
            // Items were removed: something ahead may come before this window.
            boundary = w.start;
        } else if !any_ahead && w.more {
            // Items were added: what is ahead comes after this window.
            boundary = w.end();
            widen = (widen * 2).min(MAX_WIDEN);
        } else if !closes {
            // Read on from the same place, wider, until the passed items are seen to end.
            if widen == MAX_WIDEN {
                return Err(broken(provider, "one second holds more items than any window"));
            }
            widen = (widen * 2).min(MAX_WIDEN);
        } else {
            return Ok(serve(list, w, Some(key), first_ahead));
        }
    }
    Err(broken(provider, "the list kept moving under the walk"))
}

/// Each item's place, owned, so that the items can be moved out while their places are read.
fn owned_places<L: NumberedList>(list: &L, items: &[L::Item]) -> Vec<(i64, String)> {
    items
        .iter()
        .map(|i| {
            let p = list.place(i);
            (p.at, p.id.to_owned())
        })
        .collect()
}

/// The items of `w` from index `first_ahead` on, each ahead of `key`, with their keys.
fn serve<L: NumberedList>(list: &L, w: Window<L::Item>, key: Option<&Key>, first_ahead: usize) -> Forward<L::Item> {
    let owned = owned_places(list, &w.items);
    let seen: Vec<Place<'_>> = owned.iter().map(|(at, id)| Place { at: *at, id }).collect();
    let mut run = key.map(Run::from_key).unwrap_or_default();
    let mut served = Vec::with_capacity(w.items.len());
    for (i, item) in w.items.into_iter().enumerate().skip(first_ahead) {
        if key.is_some_and(|k| k.passed(seen[i], &seen[i + 1..])) {
            continue;
        }
        let item_key = run.pass(seen[i], w.start + i as u64);
        served.push((item, item_key));
    }
    // Items follow the window: the next step starts after the last item served, or after
    // the window if it served none. Else everything ahead was in it.
    let next = w.more.then(|| match (served.last(), key) {
        (Some((_, last)), _) => Some(last.clone()),
        (None, Some(k)) => Some(Key {
            hint: w.start + owned.len() as u64,
            ..k.clone()
        }),
        (None, None) => None,
    });
    Forward {
        items: served,
        next: next.flatten(),
    }
}

/// The window that ends right before `key`'s own item: the items `key` passed, less that
/// item, each with its key, and whether anything comes before them.
pub async fn backward<L: NumberedList>(
    list: &L,
    provider: ProviderKind,
    key: &Key,
) -> Result<(Vec<(L::Item, Key)>, bool), ApiError> {
    let before = |place: Place<'_>, later: &[Place<'_>]| key.passed(place, later) && !key.is_own(place);
    // The offset of the key's own item (the first item not before it).
    let mut boundary = key.hint.saturating_sub(1);
    let mut widen = 1;
    for _ in 0..MAX_SEEK_STEPS {
        let w = window(list, boundary, widen).await?;
        if w.items.is_empty() {
            match shrunk(boundary, w.total_count) {
                Some(earlier) if earlier < boundary => {
                    boundary = earlier;
                    continue;
                }
                _ => return Ok((Vec::new(), false)),
            }
        }
        let seen = places(list, &w.items);
        let any_before = (0..seen.len()).any(|i| before(seen[i], &seen[i + 1..]));
        let closes = seen.iter().any(|p| key.closes(*p));
        drop(seen);
        if !any_before {
            if w.start == 0 {
                return Ok((Vec::new(), false));
            }
            // Items were removed: the passed items end before this window.
            boundary = w.start;
        } else if !closes && w.more {
            // Items were added: nothing here proves the passed items end in this window.
            boundary = w.end();
            widen = (widen * 2).min(MAX_WIDEN);
        } else {
            // A served item's key must know every item of its second before it, from this
            // same answer: serve from the first change of second on (all of it from the
            // list's start); an answer with no change, or with nothing to serve after it,
            // is read again wider.
            let seen = places(list, &w.items);
            let cut = if w.start == 0 {
                Some(0)
            } else {
                seen.iter().position(|p| p.at != seen[0].at)
            };
            let serves = cut.is_some_and(|c| (c..seen.len()).any(|i| before(seen[i], &seen[i + 1..])));
            drop(seen);
            match cut {
                Some(cut) if serves => return Ok(with_keys(list, w, cut, &before)),
                _ if widen < MAX_WIDEN => widen *= 2,
                _ => return Err(broken(provider, "one second holds more items than any window")),
            }
        }
    }
    Err(broken(provider, "the list kept moving under the walk"))
}

/// The items of `w` from index `cut` on (the first of a second) that `before` keeps, with
/// their keys, and whether anything comes before them.
fn with_keys<L: NumberedList>(
    list: &L,
    w: Window<L::Item>,
    cut: usize,
    before: &impl Fn(Place<'_>, &[Place<'_>]) -> bool,
) -> (Vec<(L::Item, Key)>, bool) {
    let owned = owned_places(list, &w.items);
    let seen: Vec<Place<'_>> = owned.iter().map(|(at, id)| Place { at: *at, id }).collect();
    let mut run = Run::default();
    let mut kept = Vec::with_capacity(owned.len());
    for (i, item) in w.items.into_iter().enumerate().skip(cut) {
        let key = run.pass(seen[i], w.start + i as u64);
        if before(seen[i], &seen[i + 1..]) {
            kept.push((item, key));
        }
    }
    (kept, w.start + cut as u64 > 0)
}

/// A [`VendorPager`] over one page-numbered list: its tokens are [`Key`]s, so walks resume
/// after an item and page backwards.
pub struct NumberedPager<'a, L: NumberedList> {
    list: &'a L,
    provider: ProviderKind,
    /// The key of each item this pager served, by vendor id, for [`VendorPager::item_key`].
    keys: Mutex<HashMap<String, String>>,
}

impl<'a, L: NumberedList> NumberedPager<'a, L> {
    pub fn new(list: &'a L, provider: ProviderKind) -> Self {
        NumberedPager {
            list,
            provider,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn remember(&self, items: Vec<(L::Item, Key)>) -> Vec<L::Item> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        items
            .into_iter()
            .map(|(item, key)| {
                keys.insert(self.list.place(&item).id.to_owned(), key.encode());
                item
            })
            .collect()
    }
}

impl<L: NumberedList> VendorPager for NumberedPager<'_, L> {
    type Item = L::Item;

    async fn vendor_page(&self, token: Option<&str>) -> Result<VendorPage<L::Item>, ApiError> {
        let key = token.map(Key::decode).transpose()?;
        let step = forward(self.list, self.provider, key.as_ref()).await?;
        Ok(VendorPage {
            items: self.remember(step.items),
            has_more: if step.next.is_some() { HasMore::Yes } else { HasMore::No },
            next_token: step.next.map(|k| k.encode()),
            prev_token: None,
        })
    }

    fn item_key(&self, item: &L::Item) -> Option<String> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(self.list.place(item).id).cloned()
    }

    fn pages_backward(&self) -> bool {
        true
    }

    async fn vendor_page_before(&self, before: &str) -> Result<BackwardPage<L::Item>, ApiError> {
        let key = Key::decode(before)?;
        let (items, more_before) = backward(self.list, self.provider, &key).await?;
        Ok(BackwardPage {
            items: self.remember(items),
            more_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_the_boundary_and_the_item_before_it() {
        for k in 1..30u64 {
            for boundary in 0..400u64 {
                let (page, size) = layout(k, boundary);
                let start = (page - 1) * size;
                assert!(start <= boundary.saturating_sub(1), "k {k} boundary {boundary}");
                assert!(boundary < start + size, "k {k} boundary {boundary}");
                assert!(size <= (2 * k).max(k + 2) || size == boundary + 1);
            }
        }
    }

    #[test]
    fn keys_survive_their_encoding_and_malformed_ones_are_refused() {
        let mut run = Run::default();
        let key = (0..300).fold(None, |_, i| Some(run.pass(Place { at: 5, id: &format!("id{i}") }, i)));
        let key = key.unwrap();
        assert!(key.overflowed);
        assert_eq!(Key::decode(&key.encode()).unwrap(), key);
        for bad in ["", "1.2.o.", "1.2.q.AAAAAAAA", "x.2.o.AAAAAAAA", "1.2.o.AAAA"] {
            assert!(Key::decode(bad).is_err(), "{bad}");
        }
    }
}
