/** Setup shared by the real-time scenarios: members, conversations, and who sends where. */
import { createMembers, pairUp, type Conversation, type Member } from "./api.ts";
import type { Target } from "./chat-client.ts";

export interface ChatPool {
  /** the run id made in setup (the same for every VU) */
  runId: string;
  members: Member[];
  conversations: Conversation[];
  socketsPerMember: number;
}

export function createChatPool(runId: string, prefix: string, members: number, groupSize: number, socketsPerMember: number): ChatPool {
  const created = createMembers(`${runId}${prefix}`, members);
  return { runId, members: created, conversations: pairUp(created, groupSize), socketsPerMember };
}

/**
 * Socket n (0-based, < members × socketsPerMember) is device ⌊n / members⌋ of member n mod members.
 * Callers pass a per-scenario index (exec.scenario.iterationInTest of the VU's first iteration),
 * not exec.vu.idInTest: VU ids are shared by all scenarios of a test and carry no order.
 */
export function deviceOf(pool: ChatPool, socketIndex: number): { memberIndex: number; device: number } {
  return { memberIndex: socketIndex % pool.members.length, device: Math.floor(socketIndex / pool.members.length) };
}

export function targetsFor(pool: ChatPool, memberIndex: number): Target[] {
  const out: Target[] = [];
  for (const c of pool.conversations) {
    if (c.members.indexOf(memberIndex) < 0) continue;
    out.push({ conversationId: c.id, expectedCopies: c.members.length * pool.socketsPerMember - 1 });
  }
  return out;
}
