// Light/dark: follows prefers-color-scheme until the member picks one with the toggle.
const root = document.documentElement;

function current() {
  const set = root.dataset.theme;
  if (set === 'dark' || set === 'light') return set;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function initTheme() {
  let saved = null;
  try { saved = localStorage.getItem('theme'); } catch {}
  if (saved === 'dark' || saved === 'light') root.dataset.theme = saved;
  const btn = document.getElementById('theme-toggle');
  if (!btn) return;
  const show = () => {
    const dark = current() === 'dark';
    btn.setAttribute('aria-pressed', String(dark));
    btn.title = dark ? 'Switch to the light theme' : 'Switch to the dark theme';
  };
  show();
  btn.addEventListener('click', () => {
    const next = current() === 'dark' ? 'light' : 'dark';
    root.dataset.theme = next;
    try { localStorage.setItem('theme', next); } catch {}
    show();
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener?.('change', show);
  // a choice made in another tab applies here at once
  addEventListener('storage', (e) => {
    if (e.key !== 'theme') return;
    if (e.newValue === 'dark' || e.newValue === 'light') root.dataset.theme = e.newValue;
    else delete root.dataset.theme;
    show();
  });
}
