"""The ledger's Lua scripts (`service.ledger.redis`, `service.ledger.redis_reconcile`): every
state change of a batch hash, and of the reconciliation records beside it.

Each is safe to repeat with the same arguments: a retried call (its answer lost, or replayed
by a pipeline after a dropped connection) gives the same answer and writes again, so a
`WAIT` after it confirms the first attempt too.
"""

# Server time in ms: TIME answers {seconds, microseconds}. Lua numbers are doubles, exact
# for these integers; '%.0f' writes them without the exponent `tostring` would use.
NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] entry, KEYS[2] index of open claims; ARGV owner, lease_ms, expire_ms, signature
# ('' for none: the claim is not indexed as open).
# Reply {status, state, owner, lease_ms, result or '', claimed_ms or ''}: the new claim for
# `claimed`, otherwise the entry as it stood before the call.
CLAIM = (
    NOW_MS
    + """
local key, owner, signature = KEYS[1], ARGV[1], ARGV[4]
local cur = redis.call('HMGET', key, 's', 'o', 'l', 'r', 'c', 'g')
local state, holder, lease = cur[1], cur[2], tonumber(cur[3]) or 0
local function take(claimed)
  local lease_until = string.format('%.0f', now + tonumber(ARGV[2]))
  local c = claimed or string.format('%.0f', now)
  redis.call('HSET', key, 's', 'claimed', 'o', owner, 'l', lease_until, 'c', c)
  if signature ~= '' then
    redis.call('HSET', key, 'g', signature)
    redis.call('ZADD', KEYS[2], c, key)
  elseif cur[6] then
    redis.call('HDEL', key, 'g')
    redis.call('ZREM', KEYS[2], key)
  end
  redis.call('PEXPIRE', key, ARGV[3])
  return lease_until, c
end
if not state then
  local lease_until, c = take(false)
  return {'claimed', 'claimed', owner, lease_until, '', c}
end
if state ~= 'claimed' then
  return {'done', state, holder, cur[3] or '0', cur[4] or '', cur[5] or ''}
end
if lease > now then
  if holder == owner then
    -- a retried claim: the window still starts at the first one
    local lease_until, c = take(cur[5])
    return {'claimed', 'claimed', owner, lease_until, '', c}
  end
  return {'busy', state, holder, cur[3], '', cur[5] or ''}
end
take(false)
return {'taken_over', state, holder, cur[3], '', cur[5] or ''}
"""
)

# KEYS[1] entry, KEYS[2] open claims, KEYS[3] attributed ids; ARGV owner, final state,
# result, ttl_ms, Push.R id to attribute ('' for none). Returns 1 when recorded.
# The same owner completing again with the same state also returns 1: a retried call
# whose first answer was lost must not read as "claim lost".
COMPLETE = (
    NOW_MS
    + """
local cur = redis.call('HMGET', KEYS[1], 's', 'o', 'g')
if cur[2] ~= ARGV[1] then
  return 0
end
if cur[1] == 'claimed' then
  redis.call('HSET', KEYS[1], 's', ARGV[2], 'r', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  if cur[3] then
    redis.call('ZREM', KEYS[2], KEYS[1])
  end
  if ARGV[5] ~= '' then
    redis.call('ZADD', KEYS[3], now, ARGV[5])
  end
  return 1
end
if cur[1] == ARGV[2] then
  -- a write, so that a WAIT after a retried call covers the first one too
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
"""
)

# KEYS[1] entry; ARGV owner, lease_ms, expire_ms. Returns 1 when the lease was extended.
RENEW = (
    NOW_MS
    + """
local cur = redis.call('HMGET', KEYS[1], 's', 'o')
if cur[1] ~= 'claimed' or cur[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'l', string.format('%.0f', now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# KEYS[1] entry, KEYS[2] open claims; ARGV owner. Returns 1 when the owner's claim was dropped.
RELEASE = """
local cur = redis.call('HMGET', KEYS[1], 's', 'o', 'g')
if cur[1] ~= 'claimed' or cur[2] ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if cur[3] then
  redis.call('ZREM', KEYS[2], KEYS[1])
end
return 1
"""

# KEYS entry, open claims, pending index, record; ARGV owner, result, context, window start
# ms ('' = from the claim), window end ms, deadline ms, ttl ms, batch key. 1 when recorded.
HAND_OVER = (
    NOW_MS
    + """
local cur = redis.call('HMGET', KEYS[1], 's', 'o', 'c')
if cur[2] ~= ARGV[1] then
  return 0
end
if cur[1] == 'unknown' and redis.call('HGET', KEYS[4], 'st') == 'pending' then
  return 1
end
if cur[1] ~= 'claimed' then
  return 0
end
local start = tonumber(cur[3]) or now
local ws, we = start, math.max(now, start + tonumber(ARGV[6]))
if ARGV[4] ~= '' then
  ws, we = tonumber(ARGV[4]), tonumber(ARGV[5])
end
redis.call('HSET', KEYS[1], 's', 'unknown', 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('HINCRBY', KEYS[4], 'n', 1)
redis.call('HDEL', KEYS[4], 'v')
redis.call('HSET', KEYS[4], 'd', ARGV[3], 'ws', string.format('%.0f', ws),
  'we', string.format('%.0f', we), 'st', 'pending', 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[4], ARGV[7])
redis.call('ZADD', KEYS[3], now, ARGV[8])
return 1
"""
)

# KEYS attributed, then (entry, record) per decision; ARGV ttl ms, decisions, then four per
# decision (generation, verdict, final state or '' to reopen, result), then ids to
# attribute. All or nothing: 0 when any record is not the pending generation read.
DECIDE = (
    NOW_MS
    + """
local count = tonumber(ARGV[2])
for i = 1, count do
  local at = 2 + (i - 1) * 4
  local record = redis.call('HMGET', KEYS[2 * i + 1], 'n', 'st')
  if record[1] ~= ARGV[at + 1] or record[2] ~= 'pending' then
    return 0
  end
  if redis.call('HGET', KEYS[2 * i], 's') ~= 'unknown' then
    return 0
  end
end
for i = 1, count do
  local at = 2 + (i - 1) * 4
  local entry, record = KEYS[2 * i], KEYS[2 * i + 1]
  if ARGV[at + 3] == '' then
    redis.call('DEL', entry)
    redis.call('HSET', record, 'st', 'sending', 'v', ARGV[at + 2])
  else
    redis.call('HSET', entry, 's', ARGV[at + 3], 'r', ARGV[at + 4])
    redis.call('PEXPIRE', entry, ARGV[1])
    redis.call('HSET', record, 'st', 'decided', 'v', ARGV[at + 2])
  end
end
for j = 3 + count * 4, #ARGV do
  redis.call('ZADD', KEYS[1], now, ARGV[j])
end
return 1
"""
)

# KEYS record, pending index; ARGV generation, batch key. A newer generation stays.
FINISH = """
local generation = redis.call('HGET', KEYS[1], 'n')
if generation == ARGV[1] or not generation then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
