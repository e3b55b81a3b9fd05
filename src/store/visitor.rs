//! Who a hit came from, without keeping anything that says who: a [`Visitor`] (the client's
//! address and User-Agent, as the web layer resolved them) becomes a [`VisitorHash`], a keyed
//! hash under the day's [`Salt`], and only the HyperLogLog registers that hash sets are
//! stored.
//!
//! The hash is HMAC-SHA256, keyed by a random 32-byte salt per UTC day that every replica
//! shares (kept in the store, see [`super::HistoryStore::daily_salt`]) and that is deleted
//! once its day is over, of the address, the User-Agent, the counter and the day. So:
//!
//! - the same visitor on the same counter and day is the same hash on every replica, and
//!   counts once;
//! - the same visitor on another counter, or another day, is an unrelated hash: visitors
//!   cannot be followed across counters or days, by anyone, the operator included, once the
//!   salt is gone;
//! - no address can be recovered from the hash, not even by trying all 2^32 IPv4 addresses,
//!   while the salt is unknown; and the hash itself is not stored either, only the register
//!   it raised (14 bits of the hash pick it, the rank says how many zeros followed).
//!
//! Neither the address nor the User-Agent is written anywhere: [`Visitor`] prints as
//! `Visitor(…)` so that no `{:?}` can log it, and it lives only for the request.

use std::{
    fmt,
    future::Future,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{CounterName, StoreError};

/// A day's secret: 32 random bytes, shared by the replicas through the store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Salt(pub [u8; 32]);

impl Salt {
    /// A fresh salt from the operating system's generator.
    pub fn random() -> Result<Salt, getrandom::Error> {
        let mut bytes = [0; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Salt(bytes))
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(…)")
    }
}

/// The client of a counting request, as the web layer resolved it (`TRUSTED_PROXIES` decides
/// whose `X-Forwarded-For` counts). Used for one hash, then dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Visitor {
    address: IpAddr,
    user_agent: Vec<u8>,
}

impl Visitor {
    /// The client at `address` with this `User-Agent` (empty when it sent none). IPv4 mapped
    /// into IPv6 counts as IPv4, so a dual-stack socket does not make two visitors of one.
    pub fn new(address: IpAddr, user_agent: &[u8]) -> Visitor {
        Visitor {
            address: address.to_canonical(),
            user_agent: user_agent.to_vec(),
        }
    }

    /// The keyed hash of this visitor on `name` on UTC day `day` under that day's `salt`.
    pub fn hash(&self, salt: &Salt, name: &CounterName, day: i64) -> VisitorHash {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&salt.0) else {
            // HMAC takes a key of any length; this branch cannot run.
            return VisitorHash([0; 32]);
        };
        // Every variable-length part is preceded by its length, so no two different inputs
        // write the same bytes.
        let address = match self.address {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        mac.update(b"tally visitor v1");
        mac.update(&day.to_be_bytes());
        for part in [name.namespace().as_str(), name.key().as_str()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.update(&address);
        mac.update(&(self.user_agent.len() as u64).to_be_bytes());
        mac.update(&self.user_agent);
        VisitorHash(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for Visitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Visitor(…)")
    }
}

/// A visitor of one counter on one day, as the stores see it: 32 bytes that say nothing about
/// who it was. The stores keep only what [`VisitorHash::position`] says of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VisitorHash(pub [u8; 32]);

impl VisitorHash {
    /// Its first 64 bits, which pick the HyperLogLog register and rank.
    pub fn bits(&self) -> u64 {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(first)
    }

    /// The register it lands in and the rank it offers there (see [`super::hll`]).
    pub fn position(&self) -> (u16, u8) {
        super::hll::position(self.bits())
    }
}

impl fmt::Debug for VisitorHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisitorHash(…)")
    }
}

/// The salt of the current UTC day, kept by each process so that only its first hit of a day
/// asks the store for it; the other hits of the day cost nothing more than the increment.
#[derive(Default)]
pub struct SaltCache {
    /// The last day asked for and its salt. A `std` mutex: held only to copy or replace.
    current: Mutex<Option<(i64, Salt)>>,
    /// Held while asking the store, so that the hits that arrive together at midnight ask
    /// once, not once each.
    fetching: tokio::sync::Mutex<()>,
}

impl SaltCache {
    /// The salt of `day`: the cached one, or what `fetch` answers (then cached).
    pub async fn get<F, Fut>(&self, day: i64, fetch: F) -> Result<Salt, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Salt, StoreError>>,
    {
        if let Some(salt) = self.cached(day) {
            return Ok(salt);
        }
        let _fetching = self.fetching.lock().await;
        if let Some(salt) = self.cached(day) {
            return Ok(salt);
        }
        let salt = fetch().await?;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((day, salt));
        Ok(salt)
    }

    fn cached(&self, day: i64) -> Option<Salt> {
        match *self.current.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((cached, salt)) if cached == day => Some(salt),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> CounterName {
        CounterName::parse(text).expect("valid name")
    }

    #[test]
    fn the_same_visitor_hashes_alike_and_anything_else_apart() {
        let salt = Salt([7; 32]);
        let home = name("site/home");
        let visitor = Visitor::new("192.0.2.1".parse().expect("ip"), b"Firefox");
        let hash = visitor.hash(&salt, &home, 20_000);
        assert_eq!(hash, visitor.hash(&salt, &home, 20_000));
        let mapped = Visitor::new("::ffff:192.0.2.1".parse().expect("ip"), b"Firefox");
        assert_eq!(hash, mapped.hash(&salt, &home, 20_000));
        let others = [
            visitor.hash(&Salt([8; 32]), &home, 20_000),
            visitor.hash(&salt, &name("site/about"), 20_000),
            visitor.hash(&salt, &home, 20_001),
            Visitor::new("192.0.2.2".parse().expect("ip"), b"Firefox").hash(&salt, &home, 20_000),
            Visitor::new("192.0.2.1".parse().expect("ip"), b"Chrome").hash(&salt, &home, 20_000),
            // The parts' lengths are hashed: moving a character across a border changes it.
            visitor.hash(&salt, &name("sit/ehome"), 20_000),
        ];
        for other in others {
            assert_ne!(hash, other);
        }
    }

    #[test]
    fn nothing_prints_the_address_or_the_user_agent() {
        let visitor = Visitor::new("192.0.2.1".parse().expect("ip"), b"Firefox");
        let shown = format!("{visitor:?} {:?}", Salt([1; 32]));
        assert!(
            !shown.contains("192") && !shown.contains("Firefox"),
            "{shown}"
        );
    }
}
