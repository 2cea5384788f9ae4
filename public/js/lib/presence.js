// Partners' online state. Asked with a `presence` query whenever the WebSocket is (re)connected,
// kept current by the `presence` frames the chat tier pushes when a partner's state flips. Over the
// HTTP fallback, offline or while reconnecting there are no presence frames: the state is then
// unknown and nothing is shown (never a stale "online").
const MAX_QUERY = 200; // docs/protocol.md: a query names at most 200 members

/** @param rt the page's real-time client; @param onChange called after any change of state */
export function trackPresence(rt, onChange) {
  const online = new Map(); // userId → boolean, only while the socket is live
  let watched = [];
  let live = rt.state?.mode === 'ws';
  const ask = () => {
    if (!live) return;
    for (let i = 0; i < watched.length; i += MAX_QUERY) rt.presence(watched.slice(i, i + MAX_QUERY));
  };
  rt.on('status', (s) => {
    const was = live;
    live = s.mode === 'ws';
    if (live && !was) ask();
    if (!live && was) {
      online.clear();
      onChange();
    }
  });
  rt.on('presence', (p) => {
    if (!live) return;
    online.set(String(p.userId), !!p.online);
    onChange();
  });
  return {
    /** The members whose state matters to this page (asked at once if the socket is live). */
    watch(ids) {
      watched = [...new Set(ids.map(String))];
      ask();
    },
    /** How many of `ids` are known to be online (0 when unknown). */
    count: (ids) => ids.filter((id) => online.get(String(id)) === true).length,
  };
}

/** Shows "online" (or "N online" for a group) in `el`, or hides it. */
export function showPresence(el, n, group) {
  el.hidden = n === 0;
  el.textContent = n === 0 ? '' : group ? `${n} online` : 'online';
}
