// Plain page loads made fast: prefetch a same-origin page when its link is hovered or focused.
const done = new Set();

function prefetch(a) {
  if (!(a instanceof HTMLAnchorElement) || a.origin !== location.origin || a.hasAttribute('download')) return;
  const url = a.pathname + a.search;
  if (done.has(url) || url === location.pathname + location.search || url.startsWith('/api/')) return;
  done.add(url);
  const link = document.createElement('link');
  link.rel = 'prefetch';
  link.href = url;
  document.head.append(link);
}

export function initPrefetch() {
  const on = (e) => prefetch(e.target.closest?.('a[href]'));
  document.addEventListener('pointerover', on, { passive: true });
  document.addEventListener('focusin', on);
  document.addEventListener('touchstart', on, { passive: true });
}
