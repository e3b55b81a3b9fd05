//! Request ids: every response carries an `x-request-id`; one sent by the client is kept, and
//! otherwise tally makes one.
//!
//! A made id is 32 hexadecimal digits: 16 drawn at random when the process starts, then 16
//! from a counter passed through a keyed bijection (so two requests of one process never get
//! the same id, and the ids do not tell a client how many requests were served). A random
//! UUID per request would do too, but costs a `getrandom` system call and a formatting pass
//! on every request; this is an atomic add and a few multiplications.

use std::sync::{
    LazyLock,
    atomic::{AtomicU64, Ordering},
};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes the ids of this process.
#[derive(Clone, Copy, Default)]
pub struct MakeId;

struct Seed {
    /// The first half of every id of this process.
    prefix: u64,
    /// Mixed into the counter before it is scrambled.
    key: u64,
}

static SEED: LazyLock<Seed> = LazyLock::new(|| {
    let (prefix, key) = uuid::Uuid::new_v4().as_u64_pair();
    Seed { prefix, key }
});

static NEXT: AtomicU64 = AtomicU64::new(0);

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_bytes(&new_id()).ok().map(RequestId::new)
    }
}

/// The next id of this process, as ASCII hexadecimal digits; also what the server's own `408`
/// (written before any request reaches the router) carries.
pub fn new_id() -> [u8; 32] {
    let seed = &*SEED;
    let serial = scramble(NEXT.fetch_add(1, Ordering::Relaxed) ^ seed.key);
    let mut id = [0u8; 32];
    hex(seed.prefix, &mut id[..16]);
    hex(serial, &mut id[16..]);
    id
}

/// A bijection of `u64` (the finaliser of SplitMix64): distinct inputs give distinct outputs.
fn scramble(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Writes `value` as 16 lowercase hexadecimal digits into `out`.
fn hex(value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate().take(16) {
        let shift = 60 - 4 * i;
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn make() -> String {
        let request = Request::new(());
        let id = MakeId
            .make_request_id(&request)
            .expect("an id is always made");
        id.header_value()
            .to_str()
            .expect("hex digits are ASCII")
            .to_owned()
    }

    #[test]
    fn ids_are_32_hex_digits_sharing_the_process_prefix_and_never_repeat() {
        let ids: Vec<String> = (0..10_000).map(|_| make()).collect();
        let first = &ids[0];
        assert_eq!(first.len(), 32);
        for id in &ids {
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{id}"
            );
            assert_eq!(id[..16], first[..16], "one prefix per process");
        }
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn consecutive_ids_do_not_look_like_a_counter() {
        let (a, b) = (make(), make());
        let (a, b) = (
            u64::from_str_radix(&a[16..], 16).expect("hex"),
            u64::from_str_radix(&b[16..], 16).expect("hex"),
        );
        assert!(a.abs_diff(b) > 1_000_000, "{a:x} then {b:x}");
    }

    #[test]
    fn the_scramble_is_a_bijection_on_what_it_is_given() {
        let outputs: HashSet<u64> = (0..100_000u64).map(scramble).collect();
        assert_eq!(outputs.len(), 100_000);
        assert_eq!(hex_of(0x0123_4567_89ab_cdef), "0123456789abcdef");
    }

    fn hex_of(value: u64) -> String {
        let mut out = [0u8; 16];
        hex(value, &mut out);
        String::from_utf8(out.to_vec()).expect("ASCII")
    }
}
