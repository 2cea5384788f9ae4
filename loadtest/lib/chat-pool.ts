/** Setup shared by the real-time scenarios: members, conversations, and who sends where. */
import { createMembers, groupOf, packMembers, pairUp, type Groups, type Members } from "./api.ts";
import type { Target } from "./chat-client.ts";

export interface ChatPool {
  /** the run id made in setup (the same for every VU) */
  runId: string;
  members: Members;
  groups: Groups;
  socketsPerMember: number;
}

export function createChatPool(runId: string, prefix: string, members: number, groupSize: number, socketsPerMember: number): ChatPool {
  const list = createMembers(`${runId}${prefix}`, members);
  return { runId, members: packMembers(list), groups: pairUp(list, groupSize), socketsPerMember };
}

/**
 * Socket n (0-based, < members × socketsPerMember) is device ⌊n / members⌋ of member n mod members.
 * Callers pass a per-scenario index (exec.scenario.iterationInTest of the VU's first iteration),
 * not exec.vu.idInTest: VU ids are shared by all scenarios of a test and carry no order.
 */
export function deviceOf(pool: ChatPool, socketIndex: number): { memberIndex: number; device: number } {
  const n = pool.members.sids.length;
  return { memberIndex: socketIndex % n, device: Math.floor(socketIndex / n) };
}

export function targetsFor(pool: ChatPool, memberIndex: number): Target[] {
  const g = groupOf(pool.groups, memberIndex);
  return g ? [{ conversationId: g.id, expectedCopies: g.members * pool.socketsPerMember - 1 }] : [];
}
