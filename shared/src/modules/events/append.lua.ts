/**
 * KEYS: seq, epoch, log, presence. ARGV: channel, frame tail, max events, max age seconds,
 * candidate epoch, now (unix seconds).
 * Assigns the next seq, stores the frame in the log (trimmed to about max events, expiring when
 * the member is idle longer than the replay age), publishes it, and returns {seq, epoch, online}
 * — `online` (1/0: some replica's presence deadline is ahead) saves the caller a second round trip
 * when it must know who had no open client.
 */
export const APPEND_SCRIPT = `
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', KEYS[2], epoch)
end
local seq = redis.call('INCR', KEYS[1])
local frame = '{"type":"event","seq":' .. seq .. ',' .. ARGV[2]
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'f', frame)
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('PUBLISH', ARGV[1], frame)
local online = 0
local now = tonumber(ARGV[6])
for _, v in ipairs(redis.call('HVALS', KEYS[4])) do
  if tonumber(v) > now then online = 1 break end
end
return {seq, epoch, online}
`;
