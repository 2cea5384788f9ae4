import { TestClient, newMember } from "../harness/api.ts";
import { ChatClient } from "../harness/chat-client.ts";
import type { ServiceProcess, Stack } from "../harness/stack.ts";

export interface TestMember {
  http: TestClient;
  id: string;
  handle: string;
  cookie: string;
}

export async function member(stack: Stack): Promise<TestMember> {
  const http = new TestClient(stack.api.url);
  const res = await http.post("/api/auth/register", newMember());
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.json)}`);
  return { http, id: res.json.user.id, handle: res.json.user.handle, cookie: http.cookieHeader };
}

export async function conversation(owner: TestMember, ...others: TestMember[]): Promise<string> {
  const res = await owner.http.post("/api/conversations", { handles: others.map((o) => o.handle) });
  if (res.status !== 201 && res.status !== 200) throw new Error(`conversation: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.conversation.id;
}

/**
 * A conversation every member has written in (over HTTP): each one's online state is shown to the
 * others (only members who engaged in a conversation are: shared/src/modules/messages/partners.ts).
 */
export async function talking(owner: TestMember, ...others: TestMember[]): Promise<string> {
  const id = await conversation(owner, ...others);
  for (const m of others) {
    const res = await m.http.post("/api/messages", { id: crypto.randomUUID(), conversationId: id, body: `hi from ${m.handle}` });
    if (res.status !== 200) throw new Error(`engage: ${res.status} ${JSON.stringify(res.json)}`);
  }
  return id;
}

export function wsUrl(replica: ServiceProcess): string {
  return `${replica.url.replace("http", "ws")}/ws`;
}

export async function connected(m: TestMember, replica: ServiceProcess, clientId?: string): Promise<ChatClient> {
  const client = new ChatClient(wsUrl(replica), m.cookie, clientId);
  await client.connect();
  await client.hello();
  return client;
}

/**
 * A new socket for an existing client that has lost its cursor (hello without `resume`): the
 * server resumes it from the ack it stored for this clientId. Resolves with the message bodies
 * replayed, once `count` have come.
 */
export async function resumedFromStoredAck(m: TestMember, replica: ServiceProcess, clientId: string, count: number): Promise<string[]> {
  const fresh = new ChatClient(wsUrl(replica), m.cookie, clientId);
  await fresh.connect();
  await fresh.hello(false);
  await fresh.waitFor(() => fresh.messages().length >= count, 5000, `${count} replayed message(s)`);
  const bodies = fresh.messages().map((e) => e.data.body as string);
  fresh.close();
  return bodies;
}

/** seqs of event frames received more than once on one socket (must be empty) */
export function duplicateSeqs(client: ChatClient): number[] {
  const seen = new Set<number>();
  const dups: number[] = [];
  for (const f of client.frames) {
    if (f.type !== "event") continue;
    if (seen.has(f.seq)) dups.push(f.seq);
    seen.add(f.seq);
  }
  return dups;
}
