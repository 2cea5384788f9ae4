/** Setup shared by the real-time scenarios: members, conversations, and who sends where. */
import { createMembers, pairUp, type Conversation, type Member } from "./api.ts";
import type { Target } from "./chat-client.ts";

export interface ChatPool {
  members: Member[];
  conversations: Conversation[];
  socketsPerMember: number;
}

export function createChatPool(runId: string, members: number, groupSize: number, socketsPerMember: number): ChatPool {
  const created = createMembers(runId, members);
  return { members: created, conversations: pairUp(created, groupSize), socketsPerMember };
}

/** VU n (0-based) is device ⌊n / members⌋ of member n mod members. */
export function deviceOf(pool: ChatPool, vuIndex: number): { memberIndex: number; device: number } {
  return { memberIndex: vuIndex % pool.members.length, device: Math.floor(vuIndex / pool.members.length) };
}

export function targetsFor(pool: ChatPool, memberIndex: number): Target[] {
  const out: Target[] = [];
  for (const c of pool.conversations) {
    if (c.members.indexOf(memberIndex) < 0) continue;
    out.push({ conversationId: c.id, expectedCopies: c.members.length * pool.socketsPerMember - 1 });
  }
  return out;
}
