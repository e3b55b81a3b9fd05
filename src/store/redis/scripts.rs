//! The Lua scripts of the Redis store, one per operation, and the replies they give.
//!
//! Every script gets the two keys of one counter, which share a hash slot: `KEYS[1]`, the
//! value, and `KEYS[2]`, its meta hash; the hit and the delete also get its history keys
//! (same slot). A script runs atomically, so each operation is one indivisible step in Redis,
//! whoever else is counting.
//!
//! Redis does not roll back a script that fails halfway, so each one reads and checks all it
//! needs (a meta key of the wrong type, a value that is not a number, an increment that would
//! overflow) before its first write, and from there on only makes writes that cannot fail.
//! A script that answers with an error has therefore changed nothing.
//!
//! Lua's numbers are doubles, which cannot hold every `i64`, so the scripts never do arithmetic
//! on counts: `INCRBY` adds, and counts go in and out as decimal strings.
//!
//! # The meta hash and its index entry
//!
//! The meta hash holds `created`, `updated` (milliseconds since the epoch), `owner` (the raw
//! 32-byte token hash; absent when there is none), `enable_reset` (`0`/`1`), `lower_bound`,
//! `upper_bound` and `entry`: the id of the counter's member in the index. A value key whose
//! meta hash has no `entry` (one tally never saw: the Flask tutorial's `visitor_count`, or a
//! leftover after someone deleted the meta by hand) needs a *new* index entry before tally
//! writes its meta. Scripts that may have to write meta take the id of an entry the caller has
//! already added to the index as their last argument, or `''`: then they answer `unindexed`
//! and change nothing, and the caller adds an entry and runs them again (see `indexed.rs`).
//!
//! Every script that changes a value announces it (`announce`, a `PUBLISH` of `value K` on
//! the changes channel, see `feed.rs`) once it can no longer fail, so a change and its
//! announcement are one step, and announcing costs no round trip.
//!
//! Every reply is an array: a status, `'1'` if the script stored the entry it was given (so the
//! caller must keep it in the index) or `'0'` (so the caller removes it), then what the
//! operation returns.

use redis::Script;

use crate::store::UpdateRules;

/// Writes a fresh meta hash over any old one: `write_meta(created, updated, owner,
/// enable_reset, lower_bound, upper_bound, entry)`, `owner` `''` for none. `HIT_RULES` are
/// [`UpdateRules::HIT_CREATED`], for counters created by a hit or first seen by tally.
/// `announce(value)` publishes the counter's new value on `CHANGES`, the changes channel.
const PRELUDE: &str = r"
local function announce(value)
  redis.call('PUBLISH', CHANGES, value .. ' ' .. KEYS[1])
end

local function write_meta(created, updated, owner, enable_reset, lower, upper, entry)
  local fields = {'created', created, 'updated', updated, 'enable_reset', enable_reset,
    'lower_bound', lower, 'upper_bound', upper, 'entry', entry}
  if owner ~= '' then
    table.insert(fields, 'owner')
    table.insert(fields, owner)
  end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], unpack(fields))
end

local function first_seen(now, entry)
  write_meta(now, now, '', HIT_RULES[1], HIT_RULES[2], HIT_RULES[3], entry)
end

local function is_count(value)
  return string.match(value, '^%-?%d+$') ~= nil
end
";

/// `hit(by, now, quarter, day, date, expire_at, first_kept, visitor, entry)` on the keys
/// value, meta, the day's hits hash, its visitors' HyperLogLog and the counter's days hash:
/// `INCRBY`, creating the counter at 0 first, then (in the same step) `by` hits in the day's
/// hash under the quarter of the day, the visitor (raw hash bytes, `''` for none) in the day's
/// HyperLogLog, both expiring at `expire_at` (unix seconds), and the date in the days hash
/// (date → day number). On the first hit of a day (`HSETNX` added the date) the days hash
/// forgets the days before `first_kept` and expires with this day's keys (`NX` then `GT`:
/// only ever later; Redis 7). The days are a hash, not a sorted set, so that a hit writes no
/// sorted set at all: `ZADD` stays the index's alone. Replies `{'counted', used, count}`,
/// `{'overflow', '0'}` (nothing changed) or `{'unindexed', '0'}`. A meta hash whose value is
/// gone is a leftover: the counter starts afresh, keeping the entry. A quarter's hits past the
/// largest integer stay at it.
const HIT: &str = r"
local by, now, quarter, day, date = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local expire_at, first_kept, visitor, given = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local entry = redis.call('HGET', KEYS[2], 'entry')
local existed = redis.call('EXISTS', KEYS[1]) == 1
if not entry and given == '' then return {'unindexed', '0'} end
for i, want in ipairs({'hash', 'string', 'hash'}) do
  local kind = redis.call('TYPE', KEYS[i + 2]).ok
  if kind ~= 'none' and kind ~= want then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i + 2] .. ' is not a ' .. want)
  end
end
local counted = redis.pcall('INCRBY', KEYS[1], by)
if type(counted) == 'table' then
  if string.find(counted.err, 'overflow', 1, true) then return {'overflow', '0'} end
  return counted
end
if type(redis.pcall('HINCRBY', KEYS[3], quarter, by)) == 'table' then
  redis.call('HSET', KEYS[3], quarter, '9223372036854775807')
end
redis.call('EXPIREAT', KEYS[3], expire_at)
if visitor ~= '' then
  redis.call('PFADD', KEYS[4], visitor)
  redis.call('EXPIREAT', KEYS[4], expire_at)
end
if redis.call('HSETNX', KEYS[5], date, day) == 1 then
  local known = redis.call('HGETALL', KEYS[5])
  for i = 1, #known, 2 do
    if tonumber(known[i + 1]) < tonumber(first_kept) then
      redis.call('HDEL', KEYS[5], known[i])
    end
  end
  redis.call('EXPIREAT', KEYS[5], expire_at, 'NX')
  redis.call('EXPIREAT', KEYS[5], expire_at, 'GT')
end
local count = redis.call('GET', KEYS[1])
announce(count)
if entry and existed then
  redis.call('HSET', KEYS[2], 'updated', now)
  return {'counted', '0', count}
end
if entry then
  first_seen(now, entry)
  return {'counted', '0', count}
end
first_seen(now, given)
return {'counted', '1', count}
";

/// `create(value, now, owner, enable_reset, lower_bound, upper_bound, entry)`: replies
/// `{'created', used}`, `{'exists', '0'}` (nothing changed) or `{'unindexed', '0'}`.
const CREATE: &str = r"
local given = ARGV[7]
local entry = redis.call('HGET', KEYS[2], 'entry')
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists', '0'} end
local used = '0'
if not entry then
  if given == '' then return {'unindexed', '0'} end
  entry, used = given, '1'
end
redis.call('SET', KEYS[1], ARGV[1])
write_meta(ARGV[2], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], entry)
announce(ARGV[1])
return {'created', used}
";

/// `set(value, now, entry)`: replies `{'set', used, old}`, `{'missing', '0'}` or
/// `{'unindexed', '0'}`.
const SET: &str = r"
local value, now, given = ARGV[1], ARGV[2], ARGV[3]
local entry = redis.call('HGET', KEYS[2], 'entry')
local old = redis.call('GET', KEYS[1])
if not old then return {'missing', '0'} end
if not entry and given == '' then return {'unindexed', '0'} end
if not is_count(old) then return redis.error_reply('ERR value is not an integer or out of range') end
redis.call('SET', KEYS[1], value, 'KEEPTTL')
announce(value)
if entry then
  redis.call('HSET', KEYS[2], 'updated', now)
  return {'set', '0', old}
end
first_seen(now, given)
return {'set', '1', old}
";

/// `add(amount, now, entry)`: replies `{'added', used, count}`, `{'out_of_range', '0', count}`
/// (nothing changed), `{'missing', '0'}` or `{'unindexed', '0'}`. A result below 0 is undone
/// within the script, so no client ever sees it. (`KEEPTTL`, here and in `SET`, keeps the
/// expiry another program may have put on its key; it needs Redis 6.0 or later.)
const ADD: &str = r"
local amount, now, given = ARGV[1], ARGV[2], ARGV[3]
local entry = redis.call('HGET', KEYS[2], 'entry')
local old = redis.call('GET', KEYS[1])
if not old then return {'missing', '0'} end
if not entry and given == '' then return {'unindexed', '0'} end
local counted = redis.pcall('INCRBY', KEYS[1], amount)
if type(counted) == 'table' then
  if string.find(counted.err, 'overflow', 1, true) then return {'out_of_range', '0', old} end
  return counted
end
if counted < 0 then
  redis.call('SET', KEYS[1], old, 'KEEPTTL')
  return {'out_of_range', '0', old}
end
local count = redis.call('GET', KEYS[1])
announce(count)
if entry then
  redis.call('HSET', KEYS[2], 'updated', now)
  return {'added', '0', count}
end
first_seen(now, given)
return {'added', '1', count}
";

/// `delete(hits_prefix, visitors_prefix)` on the keys value, meta and days hash: removes
/// value, meta and every day of history the days hash names (the prefixes completed by each
/// date; the keys are the counter's, in its slot, though the script only learns their names
/// from the hash); replies `{'deleted' or 'missing', '0', entry}`, where `entry` (nil if none) is the
/// index entry the caller removes next.
const DELETE: &str = r"
local entry = redis.call('HGET', KEYS[2], 'entry')
local days = redis.call('HKEYS', KEYS[3])
local existed = redis.call('DEL', KEYS[1]) == 1
redis.call('DEL', KEYS[2])
for _, date in ipairs(days) do
  redis.call('DEL', ARGV[1] .. date, ARGV[2] .. date)
end
redis.call('DEL', KEYS[3])
if existed then
  announce('0')
  return {'deleted', '0', entry}
end
return {'missing', '0', entry}
";

/// `restore(value, created, updated, owner, enable_reset, lower_bound, upper_bound, entry)`:
/// writes value and meta as given, keeping an existing entry. Replies `{'restored', used}` or
/// `{'unindexed', '0'}`.
const RESTORE: &str = r"
local given = ARGV[8]
local entry = redis.call('HGET', KEYS[2], 'entry')
local used = '0'
if not entry then
  if given == '' then return {'unindexed', '0'} end
  entry, used = given, '1'
end
redis.call('SET', KEYS[1], ARGV[1])
write_meta(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], entry)
announce(ARGV[1])
return {'restored', used}
";

/// `info(now, entry)`: everything about the counter, `{'found', used, value, entry, created,
/// updated, owner, enable_reset, lower_bound, upper_bound}` (owner nil for none), or
/// `{'missing', '0'}`. A value tally has not seen is `{'unindexed', '0'}` without an entry;
/// with one, the script first writes its meta, with both times `now` and the rules of a
/// counter created by a hit. With `entry` `''` it never writes, which `list` and `scan` rely
/// on.
const INFO: &str = r"
local now, given = ARGV[1], ARGV[2]
local entry = redis.call('HGET', KEYS[2], 'entry')
local value = redis.call('GET', KEYS[1])
if not value then return {'missing', '0'} end
local used = '0'
if not entry then
  if given == '' then return {'unindexed', '0'} end
  first_seen(now, given)
  entry, used = given, '1'
end
local m = redis.call('HMGET', KEYS[2], 'created', 'updated', 'owner', 'enable_reset',
  'lower_bound', 'upper_bound')
return {'found', used, value, entry, m[1], m[2], m[3], m[4], m[5], m[6]}
";

/// The scripts, compiled once per store (`Script` only hashes its source; Redis caches the
/// script on first use and `EVALSHA` runs it from then on).
pub struct Scripts {
    pub hit: Script,
    pub create: Script,
    pub set: Script,
    pub add: Script,
    pub delete: Script,
    pub restore: Script,
    pub info: Script,
}

impl Scripts {
    /// The scripts, announcing changes on `changes_channel` (letters, digits and `:` only).
    pub fn new(changes_channel: &str) -> Scripts {
        let rules = UpdateRules::HIT_CREATED;
        let prelude = format!(
            "local HIT_RULES = {{'{}', '{}', '{}'}}\nlocal CHANGES = '{changes_channel}'\n{PRELUDE}",
            u8::from(rules.enable_reset),
            rules.lower_bound,
            rules.upper_bound
        );
        let script = |body: &str| Script::new(&format!("{prelude}\n{body}"));
        Scripts {
            hit: script(HIT),
            create: script(CREATE),
            set: script(SET),
            add: script(ADD),
            delete: script(DELETE),
            restore: script(RESTORE),
            info: script(INFO),
        }
    }
}

/// A script's reply: its status, whether it stored the entry it was given, and the rest.
#[derive(Debug)]
pub struct Reply {
    pub status: String,
    pub used_entry: bool,
    fields: Vec<Option<Vec<u8>>>,
}

impl Reply {
    /// Reads the array every script answers with.
    pub fn parse(raw: Vec<Option<Vec<u8>>>) -> Result<Reply, String> {
        let mut raw = raw.into_iter();
        let status = raw
            .next()
            .flatten()
            .and_then(|status| String::from_utf8(status).ok())
            .ok_or("a script answered without a status")?;
        let used_entry = raw.next().flatten().as_deref() == Some(b"1".as_slice());
        Ok(Reply {
            status,
            used_entry,
            fields: raw.collect(),
        })
    }

    /// Whether the script changed nothing because the counter needs an index entry first.
    pub fn unindexed(&self) -> bool {
        self.status == "unindexed"
    }

    /// The field after status and entry flag at `index`, if present and not nil.
    pub fn bytes(&self, index: usize) -> Option<&[u8]> {
        self.fields.get(index).and_then(|field| field.as_deref())
    }

    /// The field at `index` as text.
    pub fn text(&self, index: usize) -> Result<&str, String> {
        let bytes = self
            .bytes(index)
            .ok_or_else(|| format!("`{}` reply lacks field {index}", self.status))?;
        std::str::from_utf8(bytes).map_err(|_| format!("field {index} is not text"))
    }

    /// The field at `index` as an integer.
    pub fn int(&self, index: usize) -> Result<i64, String> {
        let text = self.text(index)?;
        text.parse()
            .map_err(|_| format!("{text:?} is not a 64-bit integer"))
    }

    /// An error for a status the operation does not expect.
    pub fn unexpected(&self) -> String {
        format!("unexpected script reply `{}`", self.status)
    }
}
