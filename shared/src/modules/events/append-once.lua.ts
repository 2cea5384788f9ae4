import { APPEND_MEMBERS_LUA } from "./append-many.lua.ts";

/**
 * The bulk append guarded by a key that makes it happen at most once (a message's events and its
 * answer for repeats, in one command). ARGV: guard key, guard TTL seconds, index (1-based) of the
 * member whose seq goes into the guard's value, value head, value tail, a placeholder value that
 * does not count ('' for none), then the members as `append_members` reads them (from ARGV[7]).
 * When the guard key holds a value other than the placeholder nothing is appended and
 * {0, its value} comes back; otherwise every member's event is appended, the guard is set to
 * head .. seq .. tail, and {1, seq, online, …} comes back, as append-many's list.
 */
export const APPEND_ONCE_SCRIPT = `${APPEND_MEMBERS_LUA}
local existing = redis.call('GET', ARGV[1])
if existing and existing ~= ARGV[6] then return {0, existing} end
local appended = append_members(7)
local seq = appended[tonumber(ARGV[3]) * 2 - 1]
redis.call('SET', ARGV[1], ARGV[4] .. seq .. ARGV[5], 'EX', ARGV[2])
local out = {1}
for i = 1, #appended do out[i + 1] = appended[i] end
return out
`;
