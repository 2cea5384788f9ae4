// How members and conversations are named on screen.
export const nameOf = (m) => m?.displayName || m?.handle || 'Someone';

export function conversationName(c, meId) {
  if (c.title) return c.title;
  const others = (c.members ?? []).filter((m) => m.id !== meId);
  return others.map(nameOf).join(', ') || 'Conversation';
}
