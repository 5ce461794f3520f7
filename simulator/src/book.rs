//! The simulated ledgers every vendor simulator serves: deterministic from a seed, stored
//! compactly (a page is rendered to JSON only when asked for), internally consistent.
//!
//! Each customer has 1–3 grants and a ledger whose first entries credit those grants and
//! whose others debit them; a grant's amount is what was debited from it plus what remains,
//! so the ledger always sums to the balance and every running balance is non-negative.

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
}

/// One ledger entry, in the unit's smallest step (cents, or whole credits).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub grant: u32,
    pub kind: EntryKind,
    /// Always positive; the kind says which way it moves the balance.
    pub amount: i64,
    pub balance_after: i64,
}

impl Entry {
    pub fn signed(&self) -> i64 {
        match self.kind {
            EntryKind::Grant => self.amount,
            EntryKind::Debit => -self.amount,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub amount: i64,
    pub remaining: i64,
    /// Index of the entry that credits it.
    pub entry: u32,
    pub promotional: bool,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub index: usize,
    pub grants: Vec<Grant>,
    pub entries: Vec<Entry>,
    /// Indexes into `entries`, per grant, oldest first.
    pub by_grant: Vec<Vec<u32>>,
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
        Book {
            seed,
            customers: (0..customers)
                .map(|index| Customer::generate(seed, index, entries_per_customer))
                .collect(),
        }
    }

    pub fn customer(&self, index: usize) -> Option<&Customer> {
        self.customers.get(index)
    }
}

impl Customer {
    fn generate(seed: u64, index: usize, entries: usize) -> Customer {
        let mut rng = SplitMix::new(mix(seed, &[index as u64, 0xB00C]));
        let grant_count = (1 + rng.below(3) as usize).min(entries);
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
        }
    }

    /// When entry `j` happened (entries are a minute apart, per customer).
    pub fn entry_at(&self, j: usize) -> i64 {
        EPOCH + self.index as i64 * 3_600 + j as i64 * ENTRY_SPACING
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
