//! The simulated ledgers every vendor simulator serves: deterministic from a seed, stored
//! compactly (a page is rendered to JSON only when asked for), internally consistent.
//!
//! Each customer has 1–3 grants and a ledger whose first entries credit those grants and
//! whose others debit them; a grant's amount is what was debited from it plus what remains,
//! so the ledger always sums to the balance and every running balance is non-negative.
//!
//! Writes change the book through [`Customer`]'s vendor-neutral operations (a new grant, a
//! grant ended, a manual entry), each adding ledger entries so the same invariants hold.

/// splitmix64: a tiny, well-known generator; the data only needs to be deterministic.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A stable 64-bit mix of a seed and some labels (for ids that must not collide across
/// seeds, customers or kinds of object).
pub fn mix(seed: u64, parts: &[u64]) -> u64 {
    let mut rng = SplitMix::new(seed);
    let mut out = rng.next_u64();
    for part in parts {
        rng = SplitMix::new(out ^ part.wrapping_mul(0xA076_1D64_78BD_642F));
        out = rng.next_u64();
    }
    out
}

/// A version-4-shaped UUID derived from the seed and labels.
pub fn uuid(seed: u64, parts: &[u64]) -> String {
    let a = mix(seed, parts);
    let b = mix(a, &[0x5EED]);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// What a ledger entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Credits a grant with its whole amount.
    Grant,
    /// Consumes part of a grant.
    Debit,
    /// Withdraws what was left of a voided grant.
    Void,
    /// Withdraws what was left of a grant that expired.
    Expire,
    /// A manual entry raising the grant's remaining amount.
    ManualCredit,
    /// A manual entry lowering it.
    ManualDebit,
}

/// One ledger entry, in the unit's smallest step (cents, or whole credits).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub grant: u32,
    pub kind: EntryKind,
    /// Always positive; the kind says which way it moves the balance.
    pub amount: i64,
    pub balance_after: i64,
    /// Unix time of a written entry; 0 for generated ones (see [`Customer::entry_at`]).
    pub at: i64,
    /// 1 + the index in [`Customer::notes`] of the entry's reason; 0 for none.
    pub note: u32,
}

impl Entry {
    pub fn signed(&self) -> i64 {
        match self.kind {
            EntryKind::Grant | EntryKind::ManualCredit => self.amount,
            EntryKind::Debit | EntryKind::Void | EntryKind::Expire | EntryKind::ManualDebit => -self.amount,
        }
    }
}

/// How a grant ended before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Voided,
    Expired,
    /// Removed (Sequence's `DELETE`): no longer listed.
    Deleted,
}

/// What a write said about a grant, beyond its amount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub name: Option<String>,
    /// The vendor's priority, as the request wrote it.
    pub priority: Option<String>,
    pub effective_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The vendor's idempotency field (Metronome's `uniqueness_key`, Togai's `idempotencyKey`).
    pub key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub amount: i64,
    pub remaining: i64,
    /// Index of the entry that credits it.
    pub entry: u32,
    pub promotional: bool,
    /// Set for grants made by a write.
    pub written: Option<Box<Written>>,
    /// How and when (unix time) it ended early.
    pub ended: Option<(Ended, i64)>,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub index: usize,
    pub grants: Vec<Grant>,
    pub entries: Vec<Entry>,
    /// Indexes into `entries`, per grant, oldest first.
    pub by_grant: Vec<Vec<u32>>,
    /// Reasons of manual entries.
    pub notes: Vec<String>,
}

/// Every simulated customer's grants and ledger.
#[derive(Debug, Clone)]
pub struct Book {
    pub seed: u64,
    pub customers: Vec<Customer>,
}

/// Unix time of 2024-01-01T00:00:00Z: the simulated history starts there.
pub const EPOCH: i64 = 1_704_067_200;
/// Seconds between two entries of one customer.
pub const ENTRY_SPACING: i64 = 60;

impl Book {
    pub fn generate(seed: u64, customers: usize, entries_per_customer: usize) -> Book {
        Book::generate_with(seed, customers, entries_per_customer, None)
    }

    /// With `grants`, every customer has that many grants (at most one per entry) instead
    /// of one to three.
    pub fn generate_with(seed: u64, customers: usize, entries_per_customer: usize, grants: Option<usize>) -> Book {
        Book {
            seed,
            customers: (0..customers)
                .map(|index| Customer::generate(seed, index, entries_per_customer, grants))
                .collect(),
        }
    }

    pub fn customer(&self, index: usize) -> Option<&Customer> {
        self.customers.get(index)
    }

    pub fn customer_mut(&mut self, index: usize) -> Option<&mut Customer> {
        self.customers.get_mut(index)
    }
}

impl Customer {
    fn generate(seed: u64, index: usize, entries: usize, grants: Option<usize>) -> Customer {
        let mut rng = SplitMix::new(mix(seed, &[index as u64, 0xB00C]));
        let drawn = 1 + rng.below(3) as usize;
        let grant_count = grants.unwrap_or(drawn).min(entries);
        let mut debited = vec![0i64; grant_count];
        let mut debits = Vec::with_capacity(entries.saturating_sub(grant_count));
        for _ in grant_count..entries {
            let grant = rng.below(grant_count as u64) as usize;
            let amount = 1 + rng.below(2_500) as i64;
            debited[grant] += amount;
            debits.push((grant as u32, amount));
        }
        let grants: Vec<Grant> = (0..grant_count)
            .map(|k| {
                // Now and then a grant is used up exactly.
                let remaining = if rng.below(5) == 0 { 0 } else { rng.below(50_000) as i64 };
                Grant {
                    amount: debited[k] + remaining,
                    remaining,
                    entry: k as u32,
                    promotional: k % 2 == 1,
                    written: None,
                    ended: None,
                }
            })
            .collect();
        let mut balance = 0i64;
        let mut by_grant = vec![Vec::new(); grant_count];
        let mut ledger = Vec::with_capacity(entries);
        let credits = grants
            .iter()
            .enumerate()
            .map(|(k, g)| (k as u32, EntryKind::Grant, g.amount));
        let debits = debits.into_iter().map(|(k, a)| (k, EntryKind::Debit, a));
        for (grant, kind, amount) in credits.chain(debits) {
            let mut entry = Entry {
                grant,
                kind,
                amount,
                balance_after: 0,
                at: 0,
                note: 0,
            };
            balance += entry.signed();
            entry.balance_after = balance;
            by_grant[grant as usize].push(ledger.len() as u32);
            ledger.push(entry);
        }
        Customer {
            index,
            grants,
            entries: ledger,
            by_grant,
            notes: Vec::new(),
        }
    }

    /// When entry `j` happened (generated entries are a minute apart, per customer).
    pub fn entry_at(&self, j: usize) -> i64 {
        match self.entries.get(j) {
            Some(e) if e.at != 0 => e.at,
            _ => EPOCH + self.index as i64 * 3_600 + j as i64 * ENTRY_SPACING,
        }
    }

    /// The reason of a manual entry.
    pub fn note(&self, entry: &Entry) -> Option<&str> {
        (entry.note > 0)
            .then(|| self.notes.get(entry.note as usize - 1).map(String::as_str))
            .flatten()
    }

    fn push_entry(&mut self, grant: usize, kind: EntryKind, amount: i64, at: i64, note: Option<String>) -> usize {
        let note = match note {
            Some(text) => {
                self.notes.push(text);
                self.notes.len() as u32
            }
            None => 0,
        };
        let mut entry = Entry {
            grant: grant as u32,
            kind,
            amount,
            balance_after: 0,
            at,
            note,
        };
        entry.balance_after = self.entries.last().map_or(0, |e| e.balance_after) + entry.signed();
        self.by_grant[grant].push(self.entries.len() as u32);
        self.entries.push(entry);
        self.entries.len() - 1
    }

    /// A new grant of `amount`, credited at `at`; returns its index.
    pub fn add_grant(&mut self, amount: i64, promotional: bool, written: Written, at: i64) -> usize {
        let k = self.grants.len();
        self.grants.push(Grant {
            amount,
            remaining: amount,
            entry: self.entries.len() as u32,
            promotional,
            written: Some(Box::new(written)),
            ended: None,
        });
        self.by_grant.push(Vec::new());
        self.push_entry(k, EntryKind::Grant, amount, at, None);
        k
    }

    /// Ends grant `k` at `at`: what is left is withdrawn by one entry.
    pub fn end_grant(&mut self, k: usize, how: Ended, at: i64) {
        let remaining = self.grants[k].remaining;
        if remaining > 0 {
            let kind = if how == Ended::Expired {
                EntryKind::Expire
            } else {
                EntryKind::Void
            };
            self.push_entry(k, kind, remaining, at, None);
        }
        self.grants[k].remaining = 0;
        self.grants[k].ended = Some((how, at));
    }

    /// A manual entry of `signed` on grant `k` (its remaining amount cannot go below zero).
    pub fn adjust(&mut self, k: usize, signed: i64, reason: Option<String>, at: i64) -> Result<usize, String> {
        let remaining = self.grants[k].remaining + signed;
        if remaining < 0 {
            return Err(format!("the grant has {} left", self.grants[k].remaining));
        }
        self.grants[k].remaining = remaining;
        let kind = if signed >= 0 {
            EntryKind::ManualCredit
        } else {
            EntryKind::ManualDebit
        };
        Ok(self.push_entry(k, kind, signed.abs(), at, reason))
    }

    /// Consumes `amount` from the first live grant with that much left (Vayu's deduct).
    pub fn deduct(&mut self, amount: i64, at: i64) -> Result<usize, String> {
        let k = (0..self.grants.len())
            .find(|&k| self.grants[k].ended.is_none() && self.grants[k].remaining >= amount)
            .ok_or_else(|| format!("no credits of {amount} left to deduct"))?;
        self.grants[k].remaining -= amount;
        Ok(self.push_entry(k, EntryKind::Debit, amount, at, None))
    }

    /// When grant `k` was created: the time of the entry that credits it.
    pub fn grant_at(&self, k: usize) -> i64 {
        self.entry_at(self.grants[k].entry as usize)
    }

    pub fn balance(&self) -> i64 {
        self.grants.iter().map(|g| g.remaining).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledgers_sum_to_balances_and_never_go_negative() {
        let book = Book::generate(42, 20, 97);
        for c in &book.customers {
            assert_eq!(c.entries.len(), 97);
            let total: i64 = c.entries.iter().map(Entry::signed).sum();
            assert_eq!(total, c.balance());
            assert_eq!(c.entries.last().unwrap().balance_after, c.balance());
            let mut running = 0;
            for e in &c.entries {
                running += e.signed();
                assert_eq!(e.balance_after, running);
                assert!(running >= 0);
            }
            for (k, g) in c.grants.iter().enumerate() {
                let moved: i64 = c.by_grant[k].iter().map(|&j| c.entries[j as usize].signed()).sum();
                assert_eq!(moved, g.remaining, "grant {k}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_book_and_another_seed_another() {
        let a = Book::generate(7, 3, 50);
        let b = Book::generate(7, 3, 50);
        let c = Book::generate(8, 3, 50);
        let amounts = |b: &Book| b.customers[2].entries.iter().map(|e| e.amount).collect::<Vec<_>>();
        assert_eq!(amounts(&a), amounts(&b));
        assert_ne!(amounts(&a), amounts(&c));
        assert_eq!(uuid(7, &[1, 2]), uuid(7, &[1, 2]));
        assert_ne!(uuid(7, &[1, 2]), uuid(7, &[2, 1]));
        assert_eq!(uuid(7, &[1]).len(), 36);
    }

    #[test]
    fn writes_keep_the_ledger_summing_to_the_balance() {
        let mut book = Book::generate(3, 2, 10);
        let c = book.customer_mut(1).unwrap();
        let k = c.add_grant(500, false, Written::default(), EPOCH + 1);
        c.adjust(k, -200, Some("why".into()), EPOCH + 2).unwrap();
        assert!(c.adjust(k, -400, None, EPOCH + 3).is_err());
        c.deduct(100, EPOCH + 4).unwrap();
        c.end_grant(k, Ended::Voided, EPOCH + 5);
        assert_eq!(c.grants[k].remaining, 0);
        assert_eq!(c.entries.iter().map(Entry::signed).sum::<i64>(), c.balance());
        assert_eq!(c.entries.last().unwrap().balance_after, c.balance());
        let manual = &c.entries[c.by_grant[k][1] as usize];
        assert_eq!((manual.kind, c.note(manual)), (EntryKind::ManualDebit, Some("why")));
        assert_eq!(c.entry_at(c.entries.len() - 1), EPOCH + 5);
    }

    #[test]
    fn a_fixed_grant_count_is_kept_and_still_balances() {
        let book = Book::generate_with(5, 4, 30, Some(5));
        for c in &book.customers {
            assert_eq!(c.grants.len(), 5);
            assert_eq!(c.entries.iter().map(Entry::signed).sum::<i64>(), c.balance());
        }
        // The default draw is unchanged by the option's existence.
        let a = Book::generate(5, 4, 30);
        let b = Book::generate_with(5, 4, 30, None);
        assert_eq!(a.customers[3].entries.len(), b.customers[3].entries.len());
        assert_eq!(a.customers[3].balance(), b.customers[3].balance());
    }

    #[test]
    fn tiny_ledgers_still_balance() {
        for entries in 0..4 {
            let book = Book::generate(1, 4, entries);
            for c in &book.customers {
                assert_eq!(c.entries.len(), entries);
                assert!(c.grants.len() <= entries);
                assert_eq!(c.entries.iter().map(Entry::signed).sum::<i64>(), c.balance());
            }
        }
    }
}
