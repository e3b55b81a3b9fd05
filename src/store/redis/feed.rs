//! The Redis store's [`ChangeFeed`]: pub/sub. Every script that changes a counter publishes
//! `value K` (the counter's value key, see [`super::keys`]) on [`super::keys::changes_channel`]
//! as it runs, so announcing costs no round trip and comes in the order Redis ran the scripts.
//!
//! The channel carries the database number: pub/sub ignores `SELECT`, so two tallies on one
//! Redis with different databases would otherwise see each other's counters. The subscriber has
//! a connection of its own (pub/sub takes a connection over), made when the live hub starts
//! following and closed when nobody follows any more. Messages published while it is
//! disconnected are lost, so a closed connection ends the [`ChangeStream`] and the hub follows
//! again and reads the values afresh.

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::{Msg, aio::PubSubStream};

use super::{RedisStore, classify};
use crate::store::{Backend, ChangeFeed, ChangeStream, CounterChange, CounterName, StoreError};

#[async_trait]
impl ChangeFeed for RedisStore {
    async fn follow(&self) -> Result<Box<dyn ChangeStream>, StoreError> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(classify)?;
        pubsub
            .subscribe(&self.changes_channel)
            .await
            .map_err(classify)?;
        Ok(Box::new(RedisFollower {
            messages: pubsub.into_on_message(),
        }))
    }
}

struct RedisFollower {
    messages: PubSubStream,
}

#[async_trait]
impl ChangeStream for RedisFollower {
    async fn next(&mut self) -> Result<Vec<CounterChange>, StoreError> {
        loop {
            let Some(message) = self.messages.next().await else {
                return Err(StoreError::unavailable(
                    Backend::Redis,
                    "the connection subscribed to changes was closed",
                ));
            };
            if let Some(change) = change(&message) {
                return Ok(vec![change]);
            }
        }
    }
}

/// The change a message announces; `None` (logged) for one no script of tally's sent.
fn change(message: &Msg) -> Option<CounterChange> {
    let payload: Option<String> = message.get_payload().ok();
    let parsed = payload.as_deref().and_then(parse);
    if parsed.is_none() {
        tracing::warn!(
            channel = message.get_channel_name(),
            "ignored a message on the changes channel that is not a change"
        );
    }
    parsed
}

/// `value K`, K the value key (`visitor_count`, `namespace/key`).
fn parse(payload: &str) -> Option<CounterChange> {
    let (value, key) = payload.split_once(' ')?;
    Some(CounterChange {
        name: CounterName::parse(key).ok()?,
        value: value.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn messages_are_the_value_and_the_value_key() {
        let change = parse("7 visitor_count").expect("a change");
        assert_eq!(change.name.to_string(), "default/visitor_count");
        assert_eq!(change.value, 7);
        let change = parse("0 my.site/home").expect("a change");
        assert_eq!(change.name.to_string(), "my.site/home");
        for bad in ["", "7", "x visitor_count", "7 a/b", "7 my site"] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
