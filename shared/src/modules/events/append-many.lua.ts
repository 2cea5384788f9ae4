import { APPEND_SCRIPT } from "./append.lua.ts";

/**
 * Lua shared by the bulk scripts: `append_members(b)` runs the append script for every member
 * described from ARGV[b]: max events, max age seconds, max bytes, member count, then 7 per member — seq key,
 * epoch key, log key, online key, channel, frame tail, epoch candidate. Member number `quiet`
 * (1-based; nil for none) is appended without a publish. It returns the flat list seq, online for
 * each member, in order: exactly what the single append returns for each.
 */
export const APPEND_MEMBERS_LUA = `
local function append_one(KEYS, ARGV)
${APPEND_SCRIPT}
end
local function append_members(b, quiet)
  local out = {}
  local max_events, max_age, max_bytes, n = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  for i = 0, n - 1 do
    local m = b + 3 + i * 7
    local r = append_one({ARGV[m + 1], ARGV[m + 2], ARGV[m + 3], ARGV[m + 4]},
      {ARGV[m + 5], ARGV[m + 6], max_events, max_age, ARGV[m + 7], max_bytes, i + 1 == quiet})
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
  end
  return out
end
`;

/** The append script for several members in one call (one command instead of one per member). */
export const APPEND_MANY_SCRIPT = `${APPEND_MEMBERS_LUA}
return append_members(1)
`;
