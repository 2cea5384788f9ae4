// Small DOM helpers: templates, text, time.
export const $ = (sel, root = document) => root.querySelector(sel);

/** Clone <template id=…> and fill [data-f=name] with text from `fields`. */
export function fill(templateId, fields = {}) {
  const node = document.getElementById(templateId).content.firstElementChild.cloneNode(true);
  for (const el of node.querySelectorAll('[data-f]')) {
    const v = fields[el.dataset.f];
    if (v !== undefined && v !== null) el.textContent = String(v);
  }
  return node;
}

// The interface is written in English: its times are too ("Active vor 5 Sekunden" read oddly).
export const LOCALE = document.documentElement.lang || 'en';
const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(LOCALE, { numeric: 'auto' }) : null;

export function ago(when) {
  const t = typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t)) return '';
  const s = Math.round((t - Date.now()) / 1000);
  const abs = Math.abs(s);
  if (!rtf) return new Date(t).toLocaleString(LOCALE);
  if (abs < 60) return rtf.format(s, 'second');
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function setTime(el, when) {
  const t = typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t)) return;
  el.dateTime = new Date(t).toISOString();
  el.textContent = ago(t);
  el.title = new Date(t).toLocaleString(LOCALE);
  keepTimesFresh();
}

let ticking = false;
/** "now" does not stay "now": every shown time is written again twice a minute. */
function keepTimesFresh() {
  if (ticking) return;
  ticking = true;
  setInterval(() => {
    for (const el of document.querySelectorAll('time[datetime]')) {
      const text = ago(el.dateTime);
      if (text && el.textContent !== text) el.textContent = text;
    }
  }, 30_000);
}

/** Show a message in a form's status line (role=status / alert in the markup). */
export function say(el, text, bad = false) {
  el.textContent = text;
  el.classList.toggle('bad', bad);
}
