//! Where the Redis store keeps what: the key of a counter's value, of its meta hash, of the
//! index, and the index's members.
//!
//! Every key of one counter carries the value key `K` as its Redis Cluster hash tag
//! (`tally:{K}:meta`), so one script can touch all of them: `K` itself has no braces, and a key
//! without a tag is hashed whole, so `K` and `{K}` land in the same slot. The index lives under
//! a tag of its own, `{index}`, and no command ever names it together with a counter's keys.
//!
//! The job queue's keys all carry the one tag `{jobs}` (see `queue.rs` for why).

use crate::store::{
    CounterName, Name,
    history::utc_date,
    job::{JobId, JobStatus},
};

/// The one sorted set that `list` and `scan` page through. Every member has score 0, so Redis
/// orders them by bytes and `ZRANGEBYLEX` pages by key.
pub const INDEX: &str = "tally:{index}:counters";

/// Separates namespace, key and entry in an index member. It sorts before every character a
/// name may hold (`-`, 0x2D, is the lowest), so members order by namespace, then key, exactly
/// as [`CounterName`] does (`abc` before `abc-x`, as `abc\x20…` sorts before `abc-…`).
const SEPARATOR: char = ' ';

/// Sorts after every character of an entry id (hexadecimal digits) and before none of a name's,
/// so `…key\x20\x7f` lies after every member of `key` and before those of any longer key.
const PAST_ENTRIES: char = '\x7f';

/// The key of the value: the bare key in the default namespace (`visitor_count`),
/// `namespace/key` otherwise.
pub fn value_key(name: &CounterName) -> String {
    name.storage_key()
}

/// The hash of everything else stored about the counter, in the value key's slot.
pub fn meta_key(name: &CounterName) -> String {
    format!("tally:{{{}}}:meta", name.storage_key())
}

/// The prefix of a counter's hits per quarter-hour of one UTC day (a hash: quarter of the
/// day, 0 to 95 → hits), completed by the day's `YYYY-MM-DD`.
pub fn hits_prefix(name: &CounterName) -> String {
    format!("tally:{{{}}}:hits:", name.storage_key())
}

/// The prefix of a counter's unique visitors of one UTC day (a HyperLogLog), completed by the
/// day's `YYYY-MM-DD`.
pub fn visitors_prefix(name: &CounterName) -> String {
    format!("tally:{{{}}}:visitors:", name.storage_key())
}

/// The hash of a counter's hits on UTC day `day`.
pub fn hits_key(name: &CounterName, day: i64) -> String {
    format!("{}{}", hits_prefix(name), utc_date(day))
}

/// The HyperLogLog of a counter's visitors on UTC day `day`.
pub fn visitors_key(name: &CounterName, day: i64) -> String {
    format!("{}{}", visitors_prefix(name), utc_date(day))
}

/// The hash of the days (`YYYY-MM-DD` → day number) that a counter has history keys for, so
/// that deleting the counter can find them all.
pub fn days_key(name: &CounterName) -> String {
    format!("tally:{{{}}}:days", name.storage_key())
}

/// The salt of UTC day `day`, shared by every tally on this Redis. Not a counter's: it has no
/// hash tag, and is only ever named alone.
pub fn salt_key(day: i64) -> String {
    format!("tally:salt:{}", utc_date(day))
}

/// The pub/sub channel the scripts announce changes on, for the database `db`: pub/sub is
/// shared by every database of a server, so the number keeps two tallies on one Redis apart.
pub fn changes_channel(db: i64) -> String {
    format!("tally:changes:{db}")
}

/// A fresh entry id: 32 hexadecimal digits, never used before (a random UUID).
pub fn new_entry() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The index member `namespace key entry` of one counter.
pub fn member(name: &CounterName, entry: &str) -> String {
    format!(
        "{}{SEPARATOR}{}{SEPARATOR}{entry}",
        name.namespace(),
        name.key()
    )
}

/// The counter and entry id of an index member, or `None` if it is not one tally wrote.
pub fn parse_member(member: &[u8]) -> Option<(CounterName, String)> {
    let member = std::str::from_utf8(member).ok()?;
    let mut parts = member.split(SEPARATOR);
    let (namespace, key, entry) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || entry.is_empty() {
        return None;
    }
    let name = CounterName::parts(namespace, key).ok()?;
    Some((name, entry.to_owned()))
}

/// The `ZRANGEBYLEX` bounds (min, max) of the members of `namespace` whose key comes after
/// `after`, or of all of them.
pub fn namespace_range(namespace: &Name, after: Option<&Name>) -> (String, String) {
    let min = match after {
        Some(key) => format!("({namespace}{SEPARATOR}{key}{SEPARATOR}{PAST_ENTRIES}"),
        None => format!("({namespace}{SEPARATOR}"),
    };
    (min, format!("({namespace}{SEPARATOR}{PAST_ENTRIES}"))
}

/// The `ZRANGEBYLEX` bounds (min, max) of every member after the counter `after`, or of all.
pub fn scan_range(after: Option<&CounterName>) -> (String, String) {
    let min = match after {
        Some(name) => format!(
            "({}{SEPARATOR}{}{SEPARATOR}{PAST_ENTRIES}",
            name.namespace(),
            name.key()
        ),
        None => "-".to_owned(),
    };
    (min, "+".to_owned())
}

/// The `ZRANGEBYLEX` bound just after `member`, to continue a page from there.
pub fn after_member(member: &[u8]) -> Vec<u8> {
    let mut bound = Vec::with_capacity(member.len() + 1);
    bound.push(b'(');
    bound.extend_from_slice(member);
    bound
}

/// A key of the job queue: the one hash tag `{jobs}`, so one slot, for all of them.
macro_rules! jobs_key {
    ($name:literal) => {
        concat!("tally:{jobs}:", $name)
    };
}

/// Every job id, each a member with score 0, so that Redis orders them by bytes: by time, as
/// ids are UUIDv7.
pub const JOB_IDS: &str = jobs_key!("ids");

/// The running jobs by the end of their lease (the score).
pub const JOB_LEASES: &str = jobs_key!("leases");

/// The finished jobs by `finished_at` (the score), for `purge`.
pub const JOB_FINISHED: &str = jobs_key!("finished");

/// How many jobs each `kind status` pair has.
pub const JOB_COUNTS: &str = jobs_key!("counts");

/// `unique_key` → the id of the job stored under it.
pub const JOB_UNIQUE: &str = jobs_key!("unique");

/// Worker name → `concurrency started_at last_seen`.
pub const JOB_WORKERS: &str = jobs_key!("workers");

/// Prefixes the scripts complete with an id (and a status, or part and number).
pub const JOB_PREFIX: &str = jobs_key!("job:");
pub const JOB_STATUS_PREFIX: &str = jobs_key!("status:");
pub const CHUNK_PREFIX: &str = jobs_key!("chunk:");
/// Completed by a job id: the set of that job's chunk keys, so that they can be deleted
/// without `KEYS` or `SCAN`.
pub const CHUNK_SET_PREFIX: &str = jobs_key!("chunks:");

/// The hash of one job's fields.
pub fn job_key(id: &JobId) -> String {
    format!("{JOB_PREFIX}{id}")
}

/// The ids of the jobs with `status`, each with score 0 (ordered by id, like [`JOB_IDS`]).
pub fn job_status_key(status: JobStatus) -> String {
    format!("{JOB_STATUS_PREFIX}{status}")
}

/// Chunk `seq` of the byte stream `part` of job `id`. The number comes last and is all
/// digits, so a key names one part even when a part's name holds a `:`.
pub fn chunk_key(id: &JobId, part: &str, seq: u32) -> String {
    format!("{CHUNK_PREFIX}{id}:{part}:{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(name: &str) -> CounterName {
        CounterName::parse(name).expect("valid name")
    }

    /// Whether `member` lies within the exclusive or inclusive `ZRANGEBYLEX` bounds.
    fn within(member: &str, (min, max): &(String, String)) -> bool {
        let above = match min.as_str() {
            "-" => true,
            min => match min.split_at(1) {
                ("(", min) => member > min,
                (_, min) => member >= min,
            },
        };
        let below = match max.as_str() {
            "+" => true,
            max => match max.split_at(1) {
                ("(", max) => member < max,
                (_, max) => member <= max,
            },
        };
        above && below
    }

    #[test]
    fn every_key_of_a_counter_carries_its_value_key_as_hash_tag() {
        let home = name("site.example/home");
        assert_eq!(value_key(&home), "site.example/home");
        assert_eq!(meta_key(&home), "tally:{site.example/home}:meta");
        let visits = CounterName::default_counter();
        assert_eq!(value_key(&visits), "visitor_count");
        assert_eq!(meta_key(&visits), "tally:{visitor_count}:meta");
        // 2025-03-30 is day 20177.
        assert_eq!(
            hits_key(&home, 20_177),
            "tally:{site.example/home}:hits:2025-03-30"
        );
        assert_eq!(
            visitors_key(&home, 20_177),
            "tally:{site.example/home}:visitors:2025-03-30"
        );
        assert_eq!(days_key(&home), "tally:{site.example/home}:days");
        assert_eq!(salt_key(20_177), "tally:salt:2025-03-30");
    }

    #[test]
    fn members_round_trip_and_order_like_counter_names() {
        let entry = new_entry();
        assert_eq!(entry.len(), 32);
        let names = [
            "abc/zzz",
            "abc-x/aaa",
            "abc/zz9",
            "abc.c/a-b",
            "abcd/xyz",
            "abc/zz9-1",
            "abc/zz9.1",
            "abc/zz9_1",
        ]
        .map(name);
        let mut by_member: Vec<CounterName> = names.to_vec();
        by_member.sort_by_key(|n| member(n, &entry));
        let mut by_name = names.to_vec();
        by_name.sort();
        assert_eq!(by_member, by_name);
        for n in &names {
            assert_eq!(
                parse_member(member(n, &entry).as_bytes()),
                Some((n.clone(), entry.clone()))
            );
        }
        for odd in [
            "",
            "nsp key",
            "nsp key e extra",
            "n key e",
            "nsp key ",
            "nsp/x key e",
        ] {
            assert_eq!(parse_member(odd.as_bytes()), None, "{odd:?}");
        }
    }

    #[test]
    fn ranges_hold_exactly_the_members_after_the_cursor() {
        let entry = new_entry();
        let ns = Name::parse("namespace", "abc").expect("valid");
        let k = |k: &str| Name::parse("key", k).expect("valid");
        let cursor = k("key");
        let inside = ["abc/key-1", "abc/key1", "abc/kez", "abc/zzz"];
        let outside = [
            "abc/key",
            "abc/kex",
            "abc/KEY",
            "abc-x/zzz",
            "abcd/aaa",
            "aaa/zzz",
        ];
        let range = namespace_range(&ns, Some(&cursor));
        for n in inside {
            assert!(within(&member(&name(n), &entry), &range), "{n}");
        }
        for n in outside {
            assert!(!within(&member(&name(n), &entry), &range), "{n}");
        }
        let whole = namespace_range(&ns, None);
        assert!(within(&member(&name("abc/key"), &entry), &whole));
        assert!(!within(&member(&name("abc-x/key"), &entry), &whole));
        assert!(!within(&member(&name("abcd/key"), &entry), &whole));
        let scan = scan_range(Some(&name("abc/key")));
        assert!(within(&member(&name("abc/key-1"), &entry), &scan));
        assert!(within(&member(&name("abc-x/aaa"), &entry), &scan));
        assert!(!within(&member(&name("abc/key"), &entry), &scan));
        assert!(!within(&member(&name("aaa/zzz"), &entry), &scan));
    }

    #[test]
    fn every_job_key_carries_the_jobs_tag() {
        let id = JobId::new();
        let keys = [
            JOB_IDS.to_owned(),
            JOB_LEASES.to_owned(),
            JOB_FINISHED.to_owned(),
            JOB_COUNTS.to_owned(),
            JOB_UNIQUE.to_owned(),
            JOB_WORKERS.to_owned(),
            job_key(&id),
            job_status_key(JobStatus::Queued),
            chunk_key(&id, "input", 7),
            format!("{CHUNK_SET_PREFIX}{id}"),
        ];
        for key in keys {
            // Redis hashes only what lies between the first `{` and the next `}`.
            let tag = key
                .split_once('{')
                .and_then(|(_, rest)| rest.split_once('}'))
                .map(|(tag, _)| tag);
            assert_eq!(tag, Some("jobs"), "{key}");
        }
        assert_eq!(
            chunk_key(&id, "result-a", 12),
            format!("tally:{{jobs}}:chunk:{id}:result-a:12")
        );
    }
}
