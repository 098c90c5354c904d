"""The ledger's Lua scripts (`service.ledger.redis`): every state change of a batch hash.

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
  return {'done', state, holder, cur[3], cur[4] or '', cur[5] or ''}
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
