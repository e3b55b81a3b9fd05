//! HyperLogLog for the stores that have none (PostgreSQL, SQLite, memory): where a visitor
//! hash lands in the sketch, and the estimate from the registers.
//!
//! Redis counts with its own `PFADD`/`PFCOUNT`; the other stores keep the sketch themselves,
//! as `P = 14` (16,384) registers of up to 6 bits per counter and UTC day: the precision Redis
//! uses, a standard error of 1.04 / √16384 ≈ 0.81 %, so 100,000 visitors are counted within
//! 2 % (2.5 standard errors) all but about once in eighty days, in a few kilobytes however
//! many visitors there are. A register only ever grows (`MAX`/`GREATEST` in SQL), so adding a
//! visitor is one upsert in the same transaction as the hit, and adding one twice changes
//! nothing: the same visitor counts once.
//!
//! The estimate is Otmar Ertl's improved raw estimator ("New cardinality estimation
//! algorithms for HyperLogLog sketches", 2017, algorithm 6), written here from the paper. It
//! needs only how many registers hold each value (a histogram, which SQL computes with one
//! `GROUP BY`), is unbiased from one visitor to billions without the empirical bias tables or
//! the switch to linear counting of the original HyperLogLog, and is what Redis itself uses
//! since 5.0, so the four stores count alike.

/// Bits of the hash that pick the register.
pub const P: u32 = 14;
/// Registers per sketch.
pub const REGISTERS: usize = 1 << P;
/// The bits left for the rank: a register holds 0 (never hit) to `Q + 1`.
const Q: u32 = 64 - P;
/// The largest value a register can hold.
pub const MAX_RANK: u8 = (Q + 1) as u8;

/// Where a 64-bit hash lands: the register (its top `P` bits) and the rank it offers (one more
/// than the number of leading zeros of the other `Q` bits; `Q + 1` when they are all zero).
pub fn position(hash: u64) -> (u16, u8) {
    let register = u16::try_from(hash >> Q).unwrap_or(u16::MAX);
    let rest = hash & ((1u64 << Q) - 1);
    let rank = if rest == 0 {
        MAX_RANK
    } else {
        // `rest` has its top P bits clear, so at least P leading zeros.
        u8::try_from(rest.leading_zeros() - P + 1).unwrap_or(MAX_RANK)
    };
    (register, rank)
}

/// How many registers hold each value, index 0 (never hit) to [`MAX_RANK`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram([u64; MAX_RANK as usize + 1]);

impl Default for Histogram {
    /// An empty sketch: every register 0.
    fn default() -> Self {
        let mut counts = [0; MAX_RANK as usize + 1];
        counts[0] = REGISTERS as u64;
        Histogram(counts)
    }
}

impl Histogram {
    /// The histogram of a sketch whose registers that are not 0 hold `ranks`.
    pub fn of_ranks(ranks: impl IntoIterator<Item = u8>) -> Histogram {
        let mut histogram = Histogram::default();
        for rank in ranks {
            histogram.add(rank, 1);
        }
        histogram
    }

    /// Counts `registers` more registers holding `rank` (taken from those at 0). Ranks past
    /// [`MAX_RANK`] (a row no tally wrote) count as the largest.
    pub fn add(&mut self, rank: u8, registers: u64) {
        if rank == 0 {
            return;
        }
        let rank = usize::from(rank.min(MAX_RANK));
        let registers = registers.min(self.0[0]);
        self.0[0] -= registers;
        self.0[rank] += registers;
    }

    /// The estimated number of distinct visitors.
    pub fn estimate(&self) -> u64 {
        let m = REGISTERS as f64;
        let count = |value: usize| self.0[value] as f64;
        let mut z = m * tau(1.0 - count(MAX_RANK as usize) / m);
        for value in (1..=Q as usize).rev() {
            z = 0.5 * (z + count(value));
        }
        z += m * sigma(count(0) / m);
        let alpha_infinity = 1.0 / (2.0 * std::f64::consts::LN_2);
        let estimate = alpha_infinity * m * m / z;
        // Infinite z (every register 0) gives 0; the estimate is far below u64::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rounded = estimate.round() as u64;
        rounded
    }
}

/// σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k−1), for the registers still at 0 (x is their share).
fn sigma(x: f64) -> f64 {
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let (mut x, mut y, mut z) = (x, 1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))² 2^−k) / 3, for the registers at the largest value.
fn tau(x: f64) -> f64 {
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    let (mut x, mut y, mut z) = (x, 1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// A whole sketch in memory: the memory store's, and the fold of a batch before it is written.
#[derive(Clone)]
pub struct Registers(Box<[u8]>);

impl Default for Registers {
    fn default() -> Self {
        Registers(vec![0; REGISTERS].into_boxed_slice())
    }
}

impl Registers {
    /// Offers `rank` to `register`; true when the register grew.
    pub fn offer(&mut self, register: u16, rank: u8) -> bool {
        let slot = &mut self.0[usize::from(register) % REGISTERS];
        let grew = rank > *slot;
        if grew {
            *slot = rank;
        }
        grew
    }

    /// The registers that are not 0, with their values.
    pub fn set(&self) -> impl Iterator<Item = (u16, u8)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, rank)| **rank > 0)
            .map(|(register, rank)| (u16::try_from(register).unwrap_or(u16::MAX), *rank))
    }

    pub fn histogram(&self) -> Histogram {
        Histogram::of_ranks(self.set().map(|(_, rank)| rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-mixed 64-bit hash of `n` (SplitMix64's finaliser): distinct inputs, spread bits.
    fn mix(n: u64) -> u64 {
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn estimate_of(distinct: u64, seed: u64) -> u64 {
        let mut registers = Registers::default();
        for n in 0..distinct {
            let (register, rank) = position(mix(n ^ (seed << 40)));
            registers.offer(register, rank);
        }
        registers.histogram().estimate()
    }

    #[test]
    fn positions_cover_every_register_and_rank() {
        assert_eq!(position(0), (0, MAX_RANK));
        assert_eq!(position(u64::MAX), (u16::MAX >> 2, 1));
        assert_eq!(position(1), (0, MAX_RANK - 1));
        assert_eq!(position(1 << (Q - 1)), (0, 1));
        assert_eq!(position(1 << (Q - 2)), (0, 2));
        assert_eq!(position(3 << Q), (3, MAX_RANK));
    }

    #[test]
    fn an_empty_sketch_counts_nothing_and_one_visitor_counts_one() {
        assert_eq!(Histogram::default().estimate(), 0);
        assert_eq!(estimate_of(1, 0), 1);
    }

    #[test]
    fn estimates_stay_within_two_percent_from_small_to_large() {
        for (distinct, seed) in [
            (10, 1),
            (1_000, 2),
            (20_000, 3),
            (100_000, 4),
            (100_000, 5),
            (1_000_000, 6),
        ] {
            let estimate = estimate_of(distinct, seed);
            let error = (estimate as f64 - distinct as f64).abs() / distinct as f64;
            assert!(
                error <= 0.02,
                "{distinct} distinct estimated as {estimate} ({:.2} %)",
                error * 100.0
            );
        }
    }

    #[test]
    fn offering_again_changes_nothing() {
        let mut registers = Registers::default();
        assert!(registers.offer(7, 3));
        assert!(!registers.offer(7, 3));
        assert!(!registers.offer(7, 2));
        assert!(registers.offer(7, 4));
        assert_eq!(registers.set().collect::<Vec<_>>(), vec![(7, 4)]);
    }
}
