import { APPEND_MEMBERS_LUA } from "./append-many.lua.ts";

/**
 * Guarded bulk appends — each a message's events and the answer its repeats get — several in one
 * command, so a batch of sends that Postgres committed together costs Redis one script call.
 * ARGV[1]: how many appends follow; then, for each: guard key, guard TTL seconds, index (1-based)
 * of the member whose seq goes into the guard's value, value head, value tail, a placeholder value
 * that does not count ('' for none), the local replica and that member's presence key ('' and ''
 * for none), then its members as `append_members` reads them.
 * For each append, in order: when the guard key holds a value other than the placeholder nothing
 * is appended and {0, its value} comes back; otherwise every member's event is appended, the
 * guard is set to head .. seq .. tail, and {1, seq, online, …} comes back, as append-many's list.
 * The guarded member's event is not published when presence shows the local replica as the only
 * one holding their sockets: that replica writes it to them itself (a replica adds itself to a
 * member's presence before it reads their log, so a socket opening elsewhere either finds the
 * event in the log or is in presence by the time the script looks).
 * An append that fails gives {-1, message} and leaves the others alone, as separate calls would.
 */
export const APPEND_ONCE_SCRIPT = `${APPEND_MEMBERS_LUA}
local function held_only_by(presence, replica)
  return replica ~= '' and redis.call('HLEN', presence) == 1 and redis.call('HEXISTS', presence, replica) == 1
end
local function append_once(b)
  local existing = redis.call('GET', ARGV[b])
  if existing and existing ~= ARGV[b + 5] then return {0, existing} end
  local guarded = tonumber(ARGV[b + 2])
  local quiet = nil
  if held_only_by(ARGV[b + 7], ARGV[b + 6]) then quiet = guarded end
  local appended = append_members(b + 8, quiet)
  local seq = appended[guarded * 2 - 1]
  redis.call('SET', ARGV[b], ARGV[b + 3] .. seq .. ARGV[b + 4], 'EX', ARGV[b + 1])
  local out = {1}
  for i = 1, #appended do out[i + 1] = appended[i] end
  return out
end
local out = {}
local b = 2
for k = 1, tonumber(ARGV[1]) do
  local ok, r = pcall(append_once, b)
  if ok then
    out[k] = r
  else
    out[k] = {-1, type(r) == 'table' and tostring(r.err) or tostring(r)}
  end
  b = b + 12 + tonumber(ARGV[b + 11]) * 7
end
return out
`;
