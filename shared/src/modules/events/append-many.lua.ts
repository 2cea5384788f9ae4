import { APPEND_SCRIPT } from "./append.lua.ts";

/**
 * The append script run for several members in one call (one command instead of one per member).
 * ARGV: max events, max age seconds, now (unix seconds), member count, then 7 per member: seq key,
 * epoch key, log key, online key, channel, frame tail, epoch candidate. Returns the flat list
 * seq, online for each member, in order — exactly what the single append returns for each.
 */
export const APPEND_MANY_SCRIPT = `
local function append_one(KEYS, ARGV)
${APPEND_SCRIPT}
end
local out = {}
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local b = 4 + i * 7
  local r = append_one({ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]},
    {ARGV[b + 5], ARGV[b + 6], ARGV[1], ARGV[2], ARGV[b + 7], ARGV[3]})
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
end
return out
`;
