// A block or unblock made in this tab: this browser's open conversation pages read their state again
// (conversation.js listens for the key's `storage` event).
export function announceBlocksChanged() {
  try { localStorage.setItem('xplicit-blocks-changed', String(Date.now())); } catch {}
}
