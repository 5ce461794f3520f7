//! Page numbers walked exactly once (`providers::lago::paging`): a page-numbered list that
//! changes between every two page requests (items created at the head, items created at
//! any place, items removed), walked with any page size and client `limit`, forward and
//! backward. Every item present for the whole walk is served exactly once; no item is
//! served twice.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use creditgate::model::ProviderKind;
use creditgate::paging::{AssembledPage, PageAssembler, Position};
use creditgate::providers::lago::paging::{NumberedList, NumberedPage, NumberedPager, Place, MAX_SAME_SECOND};
use creditgate::ApiError;
use proptest::prelude::*;

/// An item: its `created_at` second, its id, and Lago's hidden order inside the second
/// (finer times the API does not show).
#[derive(Debug, Clone)]
struct Item {
    at: i64,
    id: String,
    finer: u64,
}

/// How much the list moves between two page requests.
#[derive(Debug, Clone, Copy)]
struct Churn {
    /// Items created now (at the head), per request.
    head: u64,
    /// Items created at a random place (an older second), per request.
    anywhere: u64,
    /// The list changes before one request in this many (new items ahead of a walk must
    /// come slower than the walk reads, or it never ends).
    every: u64,
    /// Items removed, per request.
    removed: u64,
    /// The clock moves by up to this many seconds per change (and stands still half the
    /// time at most, so that items share seconds, but never more than a key holds: past
    /// [`MAX_SAME_SECOND`] in one second, a walk is exact only while that second does not
    /// change, which the still-list test covers).
    tick: i64,
}

struct State {
    items: Vec<Item>,
    clock: i64,
    next_id: u64,
    rng: u64,
    /// Changes made so far (at most [`MAX_CHANGES`]).
    changes: u64,
}

/// Changes a list makes in one test: a walk towards the head (backwards) gains items as
/// fast as they are created there, so a list that kept growing faster than a walk reads
/// would never let it end; past this many changes the list stands still.
const MAX_CHANGES: u64 = 400;

/// A page-numbered vendor list, newest first, that changes before every answer.
struct MovingList {
    state: Mutex<State>,
    per_page: usize,
    churn: Churn,
    /// Page numbers read since [`MovingList::new_request`]: a client request reads its own
    /// answers again without a vendor call (the staged answers of `upstream::cache`).
    read: Mutex<HashSet<(u64, u64)>>,
    /// Vendor requests a client request could not answer from its own answers.
    calls: Mutex<u64>,
}

impl State {
    fn rand(&mut self, n: u64) -> u64 {
        // xorshift64*: enough to move the list about reproducibly.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    fn create(&mut self, at: i64) {
        self.next_id += 1;
        let finer = self.rand(1 << 40);
        self.items.push(Item {
            at,
            id: format!("it_{:06}", self.next_id),
            finer,
        });
    }

    /// Lago's order: `created_at` descending; inside a second, its own finer order.
    fn sort(&mut self) {
        self.items.sort_by(|a, b| b.at.cmp(&a.at).then(b.finer.cmp(&a.finer)));
    }
}

impl MovingList {
    fn new(seed: u64, initial: usize, same_second: u64, per_page: usize, churn: Churn) -> MovingList {
        let mut state = State {
            items: Vec::new(),
            clock: 1_000_000,
            next_id: 0,
            rng: seed | 1,
            changes: 0,
        };
        for _ in 0..initial {
            let at = state.clock;
            state.create(at);
            if state.rand(same_second.max(1)) == 0 {
                state.clock += 1;
            }
        }
        state.sort();
        MovingList {
            state: Mutex::new(state),
            per_page,
            churn,
            read: Mutex::new(HashSet::new()),
            calls: Mutex::new(0),
        }
    }

    fn new_request(&self) {
        self.read.lock().unwrap().clear();
    }

    fn ids(&self) -> HashSet<String> {
        self.state.lock().unwrap().items.iter().map(|i| i.id.clone()).collect()
    }

    fn change(&self) {
        let mut s = self.state.lock().unwrap();
        let Churn {
            head,
            anywhere,
            every,
            removed,
            tick,
        } = self.churn;
        if s.changes >= MAX_CHANGES || s.rand(every) != 0 {
            return;
        }
        s.changes += 1;
        for _ in 0..s.rand(head + 1) {
            let at = s.clock;
            s.create(at);
        }
        for _ in 0..s.rand(anywhere + 1) {
            let oldest = s.items.last().map_or(s.clock, |i| i.at);
            let span = (s.clock - oldest + 1) as u64;
            let at = oldest + s.rand(span) as i64;
            s.create(at);
        }
        for _ in 0..s.rand(removed + 1) {
            if !s.items.is_empty() {
                let len = s.items.len() as u64;
                let i = s.rand(len) as usize;
                s.items.remove(i);
            }
        }
        s.clock += s.rand(tick as u64 + 1) as i64;
        s.sort();
    }
}

impl NumberedList for MovingList {
    type Item = Item;

    async fn fetch(&self, page: u64, per_page: u64) -> Result<NumberedPage<Item>, ApiError> {
        if self.read.lock().unwrap().insert((page, per_page)) {
            *self.calls.lock().unwrap() += 1;
        }
        self.change();
        let s = self.state.lock().unwrap();
        let total = s.items.len() as u64;
        let total_pages = total.div_ceil(per_page);
        let start = page.saturating_sub(1).saturating_mul(per_page) as usize;
        let items = s.items.iter().skip(start).take(per_page as usize).cloned().collect();
        Ok(NumberedPage {
            items,
            next_page: page < total_pages,
            total_count: total,
        })
    }

    fn per_page(&self) -> u64 {
        self.per_page as u64
    }

    fn place<'i>(&self, item: &'i Item) -> Place<'i> {
        Place {
            at: item.at,
            id: &item.id,
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

async fn page(
    list: &MovingList,
    pager: &NumberedPager<'_, MovingList>,
    position: Position,
    limit: usize,
) -> AssembledPage<Item> {
    list.new_request();
    PageAssembler::new(pager, ProviderKind::Lago)
        .page(position, limit)
        .await
        .unwrap()
}

/// Counts how often each id was served; fails on any id served twice.
fn count(seen: &mut HashMap<String, usize>, items: &[Item]) -> Result<(), TestCaseError> {
    for item in items {
        let n = seen.entry(item.id.clone()).or_default();
        *n += 1;
        prop_assert_eq!(*n, 1, "{} served twice", item.id);
    }
    Ok(())
}

/// Every id in `throughout` was served.
fn all_served(seen: &HashMap<String, usize>, throughout: &HashSet<String>) -> Result<(), TestCaseError> {
    let mut missed: Vec<&String> = throughout.iter().filter(|id| !seen.contains_key(*id)).collect();
    missed.sort();
    prop_assert!(missed.is_empty(), "never served: {:?}", missed);
    Ok(())
}

/// A backward walk goes towards the head, where new items arrive: they are ahead of it (its
/// key passed them), so it ends only if they arrive slower than it reads.
fn slower_churn() -> impl Strategy<Value = Churn> {
    (0u64..2, 0u64..2, 2u64..5, 0u64..4, 1i64..3).prop_map(|(head, anywhere, every, removed, tick)| Churn {
        head,
        anywhere,
        every,
        removed,
        tick,
    })
}

fn churn() -> impl Strategy<Value = Churn> {
    (0u64..4, 0u64..2, 1u64..4, 0u64..4, 1i64..3).prop_map(|(head, anywhere, every, removed, tick)| Churn {
        head,
        anywhere,
        every,
        removed,
        tick,
    })
}

/// (seed, initial items, 1 in how many items starts a new second, per_page, client limit)
fn shape() -> impl Strategy<Value = (u64, usize, u64, usize, usize)> {
    (any::<u64>(), 0usize..120, 1u64..6, 1usize..12, 1usize..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn a_forward_walk_serves_every_item_present_throughout_exactly_once(
        (seed, initial, same_second, per_page, limit) in shape(), churn in churn()
    ) {
        rt().block_on(async {
            let list = MovingList::new(seed, initial, same_second, per_page, churn);
            let mut throughout = list.ids();
            let pager = NumberedPager::new(&list, ProviderKind::Lago);
            let mut seen = HashMap::new();
            let mut position = Position::START;
            for _ in 0..10_000 {
                let p = page(&list, &pager, position, limit).await;
                count(&mut seen, &p.items)?;
                throughout.retain(|id| list.ids().contains(id));
                match p.next {
                    Some(next) => position = next,
                    None => return all_served(&seen, &throughout),
                }
            }
            Err(TestCaseError::fail("the walk did not end"))
        })?;
    }

    #[test]
    fn a_backward_walk_serves_every_item_present_throughout_exactly_once(
        (seed, initial, same_second, per_page, limit) in shape(), churn in slower_churn()
    ) {
        backward_walk(seed, initial, same_second, per_page, limit, churn)?;
    }
}

/// Walks forward to the last page, then back to the start: every item there before the
/// walk began and still there at its end is served exactly once.
fn backward_walk(
    seed: u64,
    initial: usize,
    same_second: u64,
    per_page: usize,
    limit: usize,
    churn: Churn,
) -> Result<(), TestCaseError> {
    rt().block_on(async {
        let list = MovingList::new(seed, initial, same_second, per_page, churn);
        let pager = NumberedPager::new(&list, ProviderKind::Lago);
        // Every item present for the whole walk, forward to the last page and back
        // from there, is one of those there before it began.
        let initial = list.ids();
        let mut position = Position::START;
        let last = loop {
            let p = page(&list, &pager, position, limit).await;
            match p.next.clone() {
                Some(next) => position = next,
                None => break p,
            }
        };
        // The walk back serves what stands before the last page's first item.
        let mut throughout: HashSet<String> = match last.items.first() {
            None => HashSet::new(),
            Some(first) => list
                .state
                .lock()
                .unwrap()
                .items
                .iter()
                .map(|i| i.id.clone())
                .take_while(|id| *id != first.id)
                .filter(|id| initial.contains(id))
                .collect(),
        };
        let mut seen = HashMap::new();
        count(&mut seen, &last.items)?;
        let mut previous = last.previous;
        for _ in 0..2_000 {
            let Some(position) = previous else {
                throughout.retain(|id| list.ids().contains(id));
                return all_served(&seen, &throughout);
            };
            let p = page(&list, &pager, position, limit).await;
            count(&mut seen, &p.items)?;
            throughout.retain(|id| list.ids().contains(id));
            previous = p.previous;
        }
        Err(TestCaseError::fail("the walk did not end"))
    })
}

/// A case the property test found (stop 37): an item created at an older second, behind
/// the walk's key, was served twice by the walk back.
#[test]
fn a_backward_walk_past_an_item_created_in_an_older_second_serves_each_once() {
    let churn = Churn {
        head: 0,
        anywhere: 1,
        every: 2,
        removed: 0,
        tick: 1,
    };
    backward_walk(16047262358744150744, 33, 1, 1, 29, churn).unwrap();
}

/// A still list walked both ways gives every item once, in Lago's order, however many share
/// a second (past what a key holds, too).
#[test]
fn a_still_list_walks_in_order_both_ways_even_with_crowded_seconds() {
    let still = Churn {
        head: 0,
        anywhere: 0,
        every: 1,
        removed: 0,
        tick: 0,
    };
    for (initial, same_second, per_page, limit) in [
        (700, 1_000, 7, 13),
        (300, 2, 10, 10),
        (MAX_SAME_SECOND + 40, 10_000, 25, 9),
    ] {
        rt().block_on(async {
            let list = MovingList::new(7, initial, same_second as u64, per_page, still);
            let order: Vec<String> = list.state.lock().unwrap().items.iter().map(|i| i.id.clone()).collect();
            let pager = NumberedPager::new(&list, ProviderKind::Lago);
            let mut forward = Vec::new();
            let mut position = Position::START;
            let last = loop {
                let p = page(&list, &pager, position, limit).await;
                forward.extend(p.items.iter().map(|i| i.id.clone()));
                match p.next.clone() {
                    Some(next) => position = next,
                    None => break p,
                }
            };
            assert_eq!(forward, order, "forward, {initial} items");
            let mut backward: Vec<String> = last.items.iter().map(|i| i.id.clone()).collect();
            let mut previous = last.previous;
            while let Some(position) = previous {
                let p = page(&list, &pager, position, limit).await;
                let mut chunk: Vec<String> = p.items.iter().map(|i| i.id.clone()).collect();
                chunk.extend(backward);
                backward = chunk;
                previous = p.previous;
            }
            assert_eq!(backward, order, "backward, {initial} items");
        });
    }
}

/// A walk of a still list asks for each vendor page about once: resuming at a vendor page's
/// end reads the page just read again, which a client request answers from its own answers;
/// a client page that starts inside a vendor page reads that page again.
#[test]
fn a_still_walk_requests_each_vendor_page_about_once() {
    let still = Churn {
        head: 0,
        anywhere: 0,
        every: 1,
        removed: 0,
        tick: 0,
    };
    rt().block_on(async {
        let list = MovingList::new(3, 1_000, 1, 20, still);
        let pager = NumberedPager::new(&list, ProviderKind::Lago);
        let mut position = Position::START;
        let mut served = 0;
        loop {
            let p = page(&list, &pager, position, 50).await;
            served += p.items.len();
            match p.next {
                Some(next) => position = next,
                None => break,
            }
        }
        assert_eq!(served, 1_000);
        let calls = *list.calls.lock().unwrap();
        // 50 vendor pages of 20, 20 client pages of 50: each client page but the first
        // starts by reading the page where the last one ended.
        assert!(calls <= 50 + 20, "{calls} vendor requests for 50 vendor pages");
    });
}
