/**
 * KEYS: seq, epoch, log, online (the presence module's derived key). ARGV: channel, frame tail,
 * max events, max age seconds, candidate epoch, max bytes; in the bulk scripts also `quiet` (true:
 * do not publish — the caller writes the event to the member's only sockets itself).
 * Assigns the next seq, stores the frame in the log, publishes it, and returns {seq, online}.
 * The log is bounded by events and by bytes: a count alone let long messages to big groups fill
 * Redis (abuse probe 5). A frame within its share of the bytes (max bytes / max events) is bounded
 * by the count; a longer one is counted whole in `<log>:bytes` (same hash slot), so ordinary traffic
 * pays no counter and a log holds at most about twice max bytes. Past max bytes, or past max events
 * when checked (every 32nd event: trimming is paid once every few dozen appends), the oldest frames
 * go, never the one just added — read one by one only while long frames are counted (a log of
 * ordinary frames is trimmed by the stream itself, whole nodes at a time). Log and counter expire
 * when the member is idle longer than the replay age.
 * The epoch is touched only with a stream's first seq (a GET per append was a sixth of the
 * script's work): kept if `head` already chose one for the empty stream, replaced if a log was
 * left over — its counter was lost, so old cursors must not match the new numbering (and the old
 * log's larger ids would make every XADD fail). `online` (1/0: the member's online key exists)
 * saves the caller a second round trip when it must know who had no open client.
 */
export const APPEND_SCRIPT = `
local seq = redis.call('INCR', KEYS[1])
local bytes_key = KEYS[3] .. ':bytes'
if seq == 1 then
  redis.call('DEL', bytes_key)
  if redis.call('DEL', KEYS[3]) == 1 then
    redis.call('SET', KEYS[2], ARGV[5])
  else
    redis.call('SET', KEYS[2], ARGV[5], 'NX')
  end
end
local frame = '{"type":"event","seq":' .. seq .. ',' .. ARGV[2]
local id = seq .. '-0'
redis.call('XADD', KEYS[3], id, 'f', frame)
local max_events, max_bytes = tonumber(ARGV[3]), tonumber(ARGV[6])
local share = max_bytes / max_events
local bytes = nil
if #frame > share then
  bytes = redis.call('INCRBY', bytes_key, #frame)
  redis.call('EXPIRE', bytes_key, ARGV[4])
end
local n = 0
if seq % 32 == 0 or (bytes and bytes > max_bytes) then n = redis.call('XLEN', KEYS[3]) end
if n > max_events or (bytes and bytes > max_bytes) then
  bytes = bytes or tonumber(redis.call('GET', bytes_key) or '0')
end
if n > max_events and bytes == 0 then
  -- no long frame in the log: the stream's own trimming (whole nodes, no reading) is enough
  redis.call('XTRIM', KEYS[3], 'MAXLEN', '~', max_events)
elseif n > max_events or (bytes and bytes > max_bytes) then
  local keep_bytes = math.floor(max_bytes * 0.9)
  local last, from = nil, '-'
  while n > max_events or bytes > keep_bytes do
    local oldest = redis.call('XRANGE', KEYS[3], from, '+', 'COUNT', 32)
    local went = 0
    for _, e in ipairs(oldest) do
      if e[1] == id or (n <= max_events and bytes <= keep_bytes) then break end
      local size = #e[2][2]
      if size > share then bytes = bytes - size end
      n, last, went = n - 1, e[1], went + 1
    end
    if went < 32 then break end
    from = '(' .. last
  end
  if last then
    redis.call('XTRIM', KEYS[3], 'MINID', (tonumber(string.match(last, '^%d+')) + 1) .. '-0')
    if bytes > 0 then
      redis.call('SET', bytes_key, bytes, 'EX', ARGV[4])
    else
      redis.call('DEL', bytes_key)
    end
  end
end
redis.call('EXPIRE', KEYS[3], ARGV[4])
if not ARGV[7] then redis.call('PUBLISH', ARGV[1], frame) end
return {seq, redis.call('EXISTS', KEYS[4])}
`;
