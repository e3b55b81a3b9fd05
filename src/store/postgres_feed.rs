//! The PostgreSQL store's [`ChangeFeed`]: `LISTEN tally_counters`, which a trigger on
//! `counters` notifies at every change (migration `20261203000002_live_changes.sql`).
//!
//! The listener has a connection of its own, from a pool of one beside the store's pool, so it
//! never takes one of the ten connections that serve requests; it is made when the live hub
//! starts following (someone opened a stream) and given back when nobody follows any more.
//! PostgreSQL sends notifications in commit order and only for committed changes, so the feed
//! is exact; a notification sent while the listener was disconnected is lost, which is why a
//! broken connection ends the [`ChangeStream`] (instead of sqlx reconnecting quietly): the hub
//! then follows again and reads the values it may have missed.

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgNotification};

use super::{
    Backend, ChangeFeed, ChangeStream, CounterChange, CounterName, StoreError, error::from_sqlx,
    postgres::PostgresStore,
};

/// The channel the trigger notifies.
pub(super) const CHANNEL: &str = "tally_counters";

#[async_trait]
impl ChangeFeed for PostgresStore {
    async fn follow(&self) -> Result<Box<dyn ChangeStream>, StoreError> {
        // The trigger comes with the migrations.
        self.sql.ready().await?;
        let failed = |err| from_sqlx(Backend::Postgres, None, err);
        let mut listener = PgListener::connect_with(&self.listener)
            .await
            .map_err(failed)?;
        // A lost connection ends the stream: notifications sent meanwhile are gone, and the
        // hub must know to read the values afresh.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await.map_err(failed)?;
        Ok(Box::new(PgFollower { listener }))
    }
}

struct PgFollower {
    listener: PgListener,
}

#[async_trait]
impl ChangeStream for PgFollower {
    async fn next(&mut self) -> Result<Vec<CounterChange>, StoreError> {
        loop {
            let notification = match self.listener.try_recv().await {
                Ok(Some(notification)) => notification,
                Ok(None) => {
                    return Err(StoreError::unavailable(
                        Backend::Postgres,
                        "the connection listening for changes was lost",
                    ));
                }
                Err(err) => return Err(from_sqlx(Backend::Postgres, None, err)),
            };
            let mut changes: Vec<CounterChange> = change(&notification).into_iter().collect();
            while let Some(more) = self.listener.next_buffered() {
                changes.extend(change(&more));
            }
            if !changes.is_empty() {
                return Ok(changes);
            }
        }
    }
}

/// The change a notification announces, `value namespace key`; `None` (logged) for a payload
/// the trigger cannot have sent.
fn change(notification: &PgNotification) -> Option<CounterChange> {
    let parsed = parse(notification.payload());
    if parsed.is_none() {
        tracing::warn!(
            payload = notification.payload(),
            "ignored a notification on {CHANNEL} that is not a change"
        );
    }
    parsed
}

fn parse(payload: &str) -> Option<CounterChange> {
    let mut parts = payload.split(' ');
    let (value, namespace, key) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(CounterChange {
        name: CounterName::parts(namespace, key).ok()?,
        value: value.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn payloads_are_value_namespace_key() {
        let change = parse("42 my.site home").expect("a change");
        assert_eq!(change.name.to_string(), "my.site/home");
        assert_eq!(change.value, 42);
        for bad in [
            "",
            "42",
            "42 my.site",
            "x my.site home",
            "1 a home",
            "1 abc def ghi",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
