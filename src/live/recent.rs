//! The last values the change feed delivered for one counter, to recognise a late report of
//! this process's own change (see the module doc of [`super`]).

/// How many values are remembered. A report is late by a few changes at most (the time
/// between the store's answer and the report is a few instructions on the same task), so a
/// handful covers it; 16 values cost 128 bytes per followed counter.
const KEPT: usize = 16;

#[derive(Debug, Default)]
pub struct Recent {
    values: [i64; KEPT],
    len: usize,
    next: usize,
}

impl Recent {
    pub fn remember(&mut self, value: i64) {
        self.values[self.next] = value;
        self.next = (self.next + 1) % KEPT;
        self.len = (self.len + 1).min(KEPT);
    }

    pub fn contains(&self, value: i64) -> bool {
        self.values[..self.len].contains(&value)
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_values_only() {
        let mut recent = Recent::default();
        assert!(
            !recent.contains(0),
            "nothing yet, not even the zeroes it starts with"
        );
        for value in 1..=20 {
            recent.remember(value);
        }
        assert!(!recent.contains(4));
        assert!((5..=20).all(|value| recent.contains(value)));
        recent.clear();
        assert!(!recent.contains(20));
    }
}
