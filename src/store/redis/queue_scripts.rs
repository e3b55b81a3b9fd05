//! The Lua scripts of the Redis job queue, one per operation that changes more than one key.
//!
//! A job's fields live in its hash; the sets beside it (all ids, the ids of each status, the
//! leases, the finished jobs, the counts, the unique keys) are indexes that every script keeps
//! in step with the hash in the same atomic step, through the helpers of [`PRELUDE`]. Every
//! script is given the id index as `KEYS[1]` (and, for a listing, the set it reads as
//! `KEYS[2]`); the other keys it names are built from the prefixes in the prelude, all under
//! the same `{jobs}` hash tag, so in the slot of `KEYS[1]` (see `queue.rs`).
//!
//! As in `scripts.rs`, each script reads and checks what it needs before its first write, and
//! from there only writes what cannot fail, so one that answers with an error changed nothing.
//! Times and counts go in and out as decimal strings; the only arithmetic is on small numbers
//! (attempts) and comparisons of milliseconds, which Lua's doubles hold exactly.
//!
//! Replies that carry a job are a status followed by the job hash's `HGETALL` pairs.

use redis::Script;

use super::keys;

/// The text of the error a job gets when its worker stopped answering on its last attempt,
/// in three pieces around the worker, the attempt and the maximum: the same text as
/// [`crate::store::memory_queue`]'s `expired_error` (a test below holds them together).
const EXPIRED: [&str; 3] = [
    "its worker ",
    " stopped answering (lease expired) on attempt ",
    " of ",
];

/// Helpers every queue script shares. `precedes` compares bytes because Lua's `<` on strings
/// follows the server's locale (`strcoll`), while Redis orders lex sets by bytes.
const PRELUDE: &str = r"
local IDS = KEYS[1]
local function job(id) return JOB_PREFIX .. id end

local function precedes(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local FINAL = {succeeded = true, failed = true, cancelled = true}

local function count(kind, status, by)
  local field = kind .. ' ' .. status
  if redis.call('HINCRBY', COUNTS, field, by) <= 0 then redis.call('HDEL', COUNTS, field) end
end

-- Moves job `id` of `kind` from status `from` to `to` in its hash and in every index; a job
-- that finishes gets `finished_at = now`.
local function move(id, kind, from, to, now)
  if from == to then return end
  redis.call('ZREM', STATUS_PREFIX .. from, id)
  redis.call('ZADD', STATUS_PREFIX .. to, 0, id)
  count(kind, from, -1)
  count(kind, to, 1)
  redis.call('HSET', job(id), 'status', to)
  if FINAL[from] then redis.call('ZREM', FINISHED, id) end
  if FINAL[to] then
    redis.call('ZADD', FINISHED, now, id)
    redis.call('HSET', job(id), 'finished_at', now)
  end
end

-- The holder lets go: no worker, no lease.
local function let_go(id, now)
  redis.call('HDEL', job(id), 'worker', 'lease_token', 'lease_until')
  redis.call('HSET', job(id), 'updated_at', now)
  redis.call('ZREM', LEASES, id)
end

-- Progress `total` is absent while unknown ('').
local function set_total(id, total)
  if total == '' then
    redis.call('HDEL', job(id), 'total')
  else
    redis.call('HSET', job(id), 'total', total)
  end
end

local function reply(status, id)
  local out = redis.call('HGETALL', job(id))
  table.insert(out, 1, status)
  return out
end

local function held_by(id, token)
  local j = redis.call('HMGET', job(id), 'status', 'lease_token')
  return j[1] == 'running' and j[2] == token
end
";

/// `enqueue(id, kind, params, max_attempts, created_at, has_unique, unique_key)`: replies
/// `created` or, when a job is stored under the unique key, `exists`, with the job. An id
/// stored already is an error (ids are fresh UUIDs; writing over one would corrupt the
/// indexes).
const ENQUEUE: &str = r"
local id, kind, created = ARGV[1], ARGV[2], ARGV[5]
local has_unique, unique = ARGV[6] == '1', ARGV[7]
if has_unique then
  local existing = redis.call('HGET', UNIQUE, unique)
  if existing and redis.call('EXISTS', job(existing)) == 1 then return reply('exists', existing) end
end
if redis.call('EXISTS', job(id)) == 1 then
  return redis.error_reply('ERR job ' .. id .. ' is stored already')
end
local fields = {'id', id, 'kind', kind, 'status', 'queued', 'params', ARGV[3], 'done', '0',
  'message', '', 'attempts', '0', 'max_attempts', ARGV[4], 'run_after', created,
  'cancel_requested', '0', 'created_at', created, 'updated_at', created}
if has_unique then
  table.insert(fields, 'unique_key')
  table.insert(fields, unique)
  redis.call('HSET', UNIQUE, unique, id)
end
redis.call('HSET', job(id), unpack(fields))
redis.call('ZADD', IDS, 0, id)
redis.call('ZADD', STATUS_PREFIX .. 'queued', 0, id)
count(kind, 'queued', 1)
return reply('created', id)
";

/// `list(max, limit)`: up to `limit` jobs of the lex set `KEYS[2]` below `max` (a
/// `ZREVRANGEBYLEX` bound), newest first, each as its `HGETALL`. One script, so the page is
/// one consistent view.
const LIST: &str = r"
local ids = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], '-', 'LIMIT', 0, ARGV[2])
local out = {}
for i, id in ipairs(ids) do out[i] = redis.call('HGETALL', job(id)) end
return out
";

/// `settle_expired(now)`: settles the running jobs whose lease ended before `now` that must
/// not run again (cancel asked → `cancelled`; attempts used up → `failed`); replies how many.
const SETTLE_EXPIRED: &str = r"
local now = ARGV[1]
local settled = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', '(' .. now)) do
  local j = redis.call('HMGET', job(id), 'status', 'kind', 'cancel_requested', 'attempts',
    'max_attempts', 'worker')
  if j[1] == 'running' then
    local to = nil
    if j[3] == '1' then
      to = 'cancelled'
    elseif tonumber(j[4]) >= tonumber(j[5]) then
      to = 'failed'
      redis.call('HSET', job(id), 'error',
        EXPIRED[1] .. (j[6] or '(unknown)') .. EXPIRED[2] .. j[4] .. EXPIRED[3] .. j[5])
    end
    if to then
      move(id, j[2], 'running', to, now)
      let_go(id, now)
      settled = settled + 1
    end
  else
    redis.call('ZREM', LEASES, id)
  end
end
return settled
";

/// `claim(worker, token, now, lease_until)`: takes the oldest claimable job; replies `claimed`
/// with the job, or `{'none'}`.
///
/// Two kinds of job qualify. Running ones whose lease ended before `now` (no cancel asked,
/// attempts left) are few, the jobs of dead workers, so all of them are read from the lease
/// set. Queued ones are walked in id order, a batch at a time, up to the first whose
/// `run_after` has come (or to the best running one): only jobs waiting for a retry's backoff
/// are ever skipped, so a long backlog costs nothing.
const CLAIM: &str = r"
local worker, token, now, lease_until = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local t = tonumber(now)
local best = nil
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', '(' .. now)) do
  local j = redis.call('HMGET', job(id), 'status', 'cancel_requested', 'attempts',
    'max_attempts')
  if j[1] == 'running' and j[2] ~= '1' and tonumber(j[3]) < tonumber(j[4])
    and (best == nil or precedes(id, best)) then
    best = id
  end
end

local function first_queued(stop)
  local min = '-'
  while true do
    local ids = redis.call('ZRANGEBYLEX', STATUS_PREFIX .. 'queued', min, '+', 'LIMIT', 0, 100)
    for _, id in ipairs(ids) do
      if stop ~= nil and not precedes(id, stop) then return nil end
      local run_after = tonumber(redis.call('HGET', job(id), 'run_after'))
      if run_after ~= nil and run_after <= t then return id end
    end
    if #ids < 100 then return nil end
    min = '(' .. ids[#ids]
  end
end

best = first_queued(best) or best
if best == nil then return {'none'} end
local j = redis.call('HMGET', job(best), 'status', 'kind')
move(best, j[2], j[1], 'running', now)
redis.call('HSET', job(best), 'worker', worker, 'lease_token', token,
  'lease_until', lease_until, 'started_at', now, 'updated_at', now)
redis.call('HINCRBY', job(best), 'attempts', 1)
redis.call('ZADD', LEASES, lease_until, best)
return reply('claimed', best)
";

/// `heartbeat(id, token, done, total, message, has_checkpoint, checkpoint, now,
/// lease_until)`: replies `{'held', cancel_requested}` or `{'lost'}` (nothing written).
const HEARTBEAT: &str = r"
local id, token, now, lease_until = ARGV[1], ARGV[2], ARGV[8], ARGV[9]
if not held_by(id, token) then return {'lost'} end
redis.call('HSET', job(id), 'done', ARGV[3], 'message', ARGV[5], 'updated_at', now,
  'lease_until', lease_until)
set_total(id, ARGV[4])
if ARGV[6] == '1' then redis.call('HSET', job(id), 'checkpoint', ARGV[7]) end
redis.call('ZADD', LEASES, lease_until, id)
return {'held', redis.call('HGET', job(id), 'cancel_requested') or '0'}
";

/// `finish(id, token, now, end, ...)`, where `end` and what follows it are one of
/// `succeeded, result, done, total, message`; `failed, error, retry_at` (`''` for none);
/// `cancelled`; `released`. Replies 1, or 0 when the lease no longer holds the job (nothing
/// written).
const FINISH: &str = r"
local id, token, now, ending = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local known = {succeeded = true, failed = true, cancelled = true, released = true}
if not known[ending] then return redis.error_reply('ERR unknown job end ' .. ending) end
if not held_by(id, token) then return 0 end
local j = redis.call('HMGET', job(id), 'kind', 'attempts')
local kind = j[1]
if ending == 'succeeded' then
  redis.call('HSET', job(id), 'result', ARGV[5], 'done', ARGV[6], 'message', ARGV[8])
  set_total(id, ARGV[7])
  redis.call('HDEL', job(id), 'error')
  move(id, kind, 'running', 'succeeded', now)
elseif ending == 'failed' then
  redis.call('HSET', job(id), 'error', ARGV[5])
  if ARGV[6] ~= '' then
    redis.call('HSET', job(id), 'run_after', ARGV[6])
    move(id, kind, 'running', 'queued', now)
  else
    move(id, kind, 'running', 'failed', now)
  end
elseif ending == 'cancelled' then
  move(id, kind, 'running', 'cancelled', now)
else
  if tonumber(j[2]) > 0 then redis.call('HINCRBY', job(id), 'attempts', -1) end
  redis.call('HSET', job(id), 'run_after', now)
  move(id, kind, 'running', 'queued', now)
end
let_go(id, now)
return 1
";

/// `cancel(id, now)`: a queued job is cancelled, a running one gets `cancel_requested`.
/// Replies `found` with the job, or `{'missing'}`.
const CANCEL: &str = r"
local id, now = ARGV[1], ARGV[2]
local j = redis.call('HMGET', job(id), 'status', 'kind')
if not j[1] then return {'missing'} end
if j[1] == 'queued' then
  move(id, j[2], 'queued', 'cancelled', now)
  redis.call('HSET', job(id), 'updated_at', now)
elseif j[1] == 'running' then
  redis.call('HSET', job(id), 'cancel_requested', '1', 'updated_at', now)
end
return reply('found', id)
";

/// `retry(id, now)`: a failed or cancelled job is queued again as new. Replies `found` with
/// the job, or `{'missing'}`.
const RETRY: &str = r"
local id, now = ARGV[1], ARGV[2]
local j = redis.call('HMGET', job(id), 'status', 'kind')
if not j[1] then return {'missing'} end
if j[1] == 'failed' or j[1] == 'cancelled' then
  move(id, j[2], j[1], 'queued', now)
  redis.call('HSET', job(id), 'attempts', '0', 'cancel_requested', '0', 'done', '0',
    'message', '', 'run_after', now, 'updated_at', now)
  redis.call('HDEL', job(id), 'error', 'result', 'checkpoint', 'total', 'started_at',
    'finished_at')
end
return reply('found', id)
";

/// `purge(finished_before, batch)`: deletes up to `batch` jobs finished before
/// `finished_before`, with their index entries, unique key and chunks. Replies how many jobs
/// it looked at (the caller runs it again while that is `batch`) and how many it deleted.
const PURGE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', FINISHED, '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
local deleted = 0
for _, id in ipairs(ids) do
  local j = redis.call('HMGET', job(id), 'status', 'kind', 'unique_key')
  if j[1] then
    redis.call('ZREM', STATUS_PREFIX .. j[1], id)
    count(j[2], j[1], -1)
    if j[3] and redis.call('HGET', UNIQUE, j[3]) == id then redis.call('HDEL', UNIQUE, j[3]) end
    redis.call('DEL', job(id))
    deleted = deleted + 1
  end
  redis.call('ZREM', IDS, id)
  redis.call('ZREM', FINISHED, id)
  redis.call('ZREM', LEASES, id)
  local chunks = CHUNK_SET_PREFIX .. id
  for _, chunk in ipairs(redis.call('SMEMBERS', chunks)) do redis.call('DEL', chunk) end
  redis.call('DEL', chunks)
end
return {#ids, deleted}
";

/// `put_chunk(id, key, data)`: stores a chunk and lists its key in the job's chunk set.
const PUT_CHUNK: &str = r"
redis.call('SET', ARGV[2], ARGV[3])
redis.call('SADD', CHUNK_SET_PREFIX .. ARGV[1], ARGV[2])
return 1
";

/// `drop_chunks(id, part)`: deletes the chunks of `part` of job `id`: the listed keys that are
/// the part's prefix followed by digits only (so part `a` never takes part `a:b`'s).
const DROP_CHUNKS: &str = r"
local set = CHUNK_SET_PREFIX .. ARGV[1]
local prefix = CHUNK_PREFIX .. ARGV[1] .. ':' .. ARGV[2] .. ':'
for _, chunk in ipairs(redis.call('SMEMBERS', set)) do
  if string.sub(chunk, 1, #prefix) == prefix and string.find(chunk, '^%d+$', #prefix + 1) then
    redis.call('DEL', chunk)
    redis.call('SREM', set, chunk)
  end
end
return 1
";

/// The queue's scripts, compiled once per store.
pub struct QueueScripts {
    pub enqueue: Script,
    pub list: Script,
    pub settle_expired: Script,
    pub claim: Script,
    pub heartbeat: Script,
    pub finish: Script,
    pub cancel: Script,
    pub retry: Script,
    pub purge: Script,
    pub put_chunk: Script,
    pub drop_chunks: Script,
}

impl QueueScripts {
    pub fn new() -> QueueScripts {
        let prelude = format!("{}{PRELUDE}", constants());
        let script = |body: &str| Script::new(&format!("{prelude}\n{body}"));
        QueueScripts {
            enqueue: script(ENQUEUE),
            list: script(LIST),
            settle_expired: script(SETTLE_EXPIRED),
            claim: script(CLAIM),
            heartbeat: script(HEARTBEAT),
            finish: script(FINISH),
            cancel: script(CANCEL),
            retry: script(RETRY),
            purge: script(PURGE),
            put_chunk: script(PUT_CHUNK),
            drop_chunks: script(DROP_CHUNKS),
        }
    }
}

/// The key names and texts the scripts use, as Lua locals, from the one place that defines
/// them (`keys.rs`, [`EXPIRED`]).
fn constants() -> String {
    let names = [
        ("JOB_PREFIX", keys::JOB_PREFIX),
        ("STATUS_PREFIX", keys::JOB_STATUS_PREFIX),
        ("CHUNK_PREFIX", keys::CHUNK_PREFIX),
        ("CHUNK_SET_PREFIX", keys::CHUNK_SET_PREFIX),
        ("LEASES", keys::JOB_LEASES),
        ("FINISHED", keys::JOB_FINISHED),
        ("COUNTS", keys::JOB_COUNTS),
        ("UNIQUE", keys::JOB_UNIQUE),
    ];
    let mut lua = String::new();
    for (name, value) in names {
        lua.push_str(&format!("local {name} = {}\n", lua_string(value)));
    }
    let expired: Vec<String> = EXPIRED.iter().map(|text| lua_string(text)).collect();
    lua.push_str(&format!("local EXPIRED = {{{}}}\n", expired.join(", ")));
    lua
}

/// `text` as a Lua string literal (every byte escaped as `\ddd`, so nothing needs quoting).
fn lua_string(text: &str) -> String {
    let mut lua = String::from("'");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b" :{}-_().".contains(&byte) {
            lua.push(char::from(byte));
        } else {
            lua.push_str(&format!("\\{byte:03}"));
        }
    }
    lua.push('\'');
    lua
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::store::{
        job::{JobId, JobKind, JobRecord, JobStatus, Progress},
        memory_queue::expired_error,
    };

    /// The settled job's error, as the script puts it together, is the memory queue's text.
    #[test]
    fn the_expired_error_is_the_memory_queues() {
        let mut job = JobRecord {
            id: JobId::new(),
            kind: JobKind::Copy,
            status: JobStatus::Running,
            params: Value::Null,
            progress: Progress::default(),
            attempts: 3,
            max_attempts: 3,
            error: None,
            result: None,
            worker: Some("host:42".into()),
            lease_token: None,
            lease_until: None,
            run_after: 0,
            cancel_requested: false,
            checkpoint: None,
            unique_key: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
            updated_at: 0,
        };
        let [a, b, c] = EXPIRED;
        assert_eq!(expired_error(&job), format!("{a}host:42{b}3{c}3"));
        job.worker = None;
        assert_eq!(expired_error(&job), format!("{a}(unknown){b}3{c}3"));
    }

    #[test]
    fn lua_strings_escape_what_is_not_plain() {
        assert_eq!(lua_string("tally:{jobs}:job:"), "'tally:{jobs}:job:'");
        assert_eq!(lua_string("it's\n"), "'it\\039s\\010'");
    }
}
