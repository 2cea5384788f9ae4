// How members and conversations are named on screen.
export const nameOf = (m) => m?.displayName || m?.handle || 'Someone';

// A name inside a sentence, kept apart from it (U+2068 … U+2069): a right-to-left name would
// otherwise take the words around it along ("Hello sent you a مرحبا message").
export const isolated = (name) => `\u2068${name}\u2069`;

export function conversationName(c, meId) {
  // (a conversation of two is named by the other member, never by a title)
  if (c.title && c.kind !== 'direct') return c.title;
  const others = (c.members ?? []).filter((m) => m.id !== meId);
  return others.map(nameOf).join(', ') || (c.kind === 'direct' ? 'Deleted account' : 'Conversation');
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The first character as a member sees it (a whole emoji, not half of one): for avatars. */
export function initialOf(name) {
  for (const { segment } of graphemes.segment(String(name ?? '').trim())) return segment;
  return '?';
}
