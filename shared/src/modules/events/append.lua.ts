/**
 * KEYS: seq, epoch, log, online (the presence module's derived key). ARGV: channel, frame tail,
 * max events, max age seconds, candidate epoch, max bytes; in the bulk scripts also `quiet` (true:
 * do not publish — the caller writes the event to the member's only sockets itself).
 * Assigns the next seq, stores the frame in the log, publishes it, and returns {seq, online}.
 * The log is bounded by events and by bytes (a count alone let long messages to big groups fill
 * Redis: abuse probe 5); the byte count lives beside the log (`<log>:bytes`, same hash slot).
 * Past either bound the oldest frames go — down to max events and nine tenths of max bytes, so
 * trimming is paid once every few dozen appends — never the frame just added. Both expire when
 * the member is idle longer than the replay age.
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
local bytes = redis.call('INCRBY', bytes_key, #frame)
local max_events, max_bytes = tonumber(ARGV[3]), tonumber(ARGV[6])
local n = redis.call('XLEN', KEYS[3])
if n > max_events + math.max(10, math.floor(max_events / 10)) or bytes > max_bytes then
  local keep_bytes = math.floor(max_bytes * 0.9)
  local last, from = nil, '-'
  while n > max_events or bytes > keep_bytes do
    local oldest = redis.call('XRANGE', KEYS[3], from, '+', 'COUNT', 32)
    local went = 0
    for _, e in ipairs(oldest) do
      if e[1] == id or (n <= max_events and bytes <= keep_bytes) then break end
      bytes, n, last, went = bytes - #e[2][2], n - 1, e[1], went + 1
    end
    if went < 32 then break end
    from = '(' .. last
  end
  if last then
    redis.call('XTRIM', KEYS[3], 'MINID', (tonumber(string.match(last, '^%d+')) + 1) .. '-0')
    redis.call('SET', bytes_key, math.max(bytes, 0))
  end
end
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('EXPIRE', bytes_key, ARGV[4])
if not ARGV[7] then redis.call('PUBLISH', ARGV[1], frame) end
return {seq, redis.call('EXISTS', KEYS[4])}
`;
