/**
 * KEYS: seq, epoch, log, online (the presence module's derived key). ARGV: channel, frame tail,
 * max events, max age seconds, candidate epoch; in the bulk scripts also `quiet` (true: do not
 * publish — the caller writes the event to the member's only sockets itself).
 * Assigns the next seq, stores the frame in the log (trimmed to about max events, expiring when
 * the member is idle longer than the replay age), publishes it, and returns {seq, online}.
 * The epoch is touched only with a stream's first seq (a GET per append was a sixth of the
 * script's work): kept if `head` already chose one for the empty stream, replaced if a log was
 * left over — its counter was lost, so old cursors must not match the new numbering (and the old
 * log's larger ids would make every XADD fail). `online` (1/0: the member's online key exists)
 * saves the caller a second round trip when it must know who had no open client.
 */
export const APPEND_SCRIPT = `
local seq = redis.call('INCR', KEYS[1])
if seq == 1 then
  if redis.call('DEL', KEYS[3]) == 1 then
    redis.call('SET', KEYS[2], ARGV[5])
  else
    redis.call('SET', KEYS[2], ARGV[5], 'NX')
  end
end
local frame = '{"type":"event","seq":' .. seq .. ',' .. ARGV[2]
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'f', frame)
redis.call('EXPIRE', KEYS[3], ARGV[4])
if not ARGV[6] then redis.call('PUBLISH', ARGV[1], frame) end
return {seq, redis.call('EXISTS', KEYS[4])}
`;
