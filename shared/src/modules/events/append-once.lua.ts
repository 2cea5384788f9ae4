import { APPEND_SCRIPT } from "./append.lua.ts";

/**
 * The bulk append guarded by a key that makes it happen at most once (a message's events and its
 * answer for repeats, in one command). ARGV: guard key, guard TTL seconds, index (1-based) of the
 * member whose seq goes into the guard's value, value head, value tail, max events, max age
 * seconds, now, member count, then 7 per member as in append-many.
 * When the guard key exists nothing is appended and {0, its value} comes back; otherwise every
 * member's event is appended, the guard is set to head .. seq .. tail, and {1, seq, online, …}
 * comes back, as append-many's list.
 */
export const APPEND_ONCE_SCRIPT = `
local function append_one(KEYS, ARGV)
${APPEND_SCRIPT}
end
local existing = redis.call('GET', ARGV[1])
if existing then return {0, existing} end
local out = {1}
local guarded_seq = 0
local n = tonumber(ARGV[9])
for i = 0, n - 1 do
  local b = 9 + i * 7
  local r = append_one({ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]},
    {ARGV[b + 5], ARGV[b + 6], ARGV[6], ARGV[7], ARGV[b + 7], ARGV[8]})
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
  if i + 1 == tonumber(ARGV[3]) then guarded_seq = r[1] end
end
redis.call('SET', ARGV[1], ARGV[4] .. guarded_seq .. ARGV[5], 'EX', ARGV[2])
return out
`;
