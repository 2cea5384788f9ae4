// Landing: sign in or create an account (18+ only).
import { get, post } from '../lib/api.js?v=94a32e7fff';
import { say } from '../lib/dom.js?v=ad30dd5a83';
import { initTheme } from '../lib/theme.js?v=57a056b519';
import { initPrefetch } from '../lib/prefetch.js?v=8545df2da1';

initTheme();
initPrefetch();

// Where to go after signing in: a page of this site only. Resolved as the browser will resolve it
// (it reads `/\evil.example` and `/<tab>/evil.example` as another host), then kept only if it
// stays on this origin, and only its path, query and fragment are used.
const next = () => {
  const n = new URLSearchParams(location.search).get('next');
  if (!n) return '/conversations';
  try {
    const url = new URL(n, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : '/conversations';
  } catch {
    return '/conversations';
  }
};

if (new URLSearchParams(location.search).get('ended') === '1') {
  say(document.getElementById('login-status'), 'Your session ended (signed out on another device, or it expired). Sign in again to go on where you were.');
}

// Already signed in: straight on.
get('/api/session').then((s) => s?.signedIn && location.replace(next()), () => {});

function ageOn(birth, today = new Date()) {
  const [y, m, d] = birth.split('-').map(Number);
  let age = today.getFullYear() - y;
  if (today.getMonth() + 1 < m || (today.getMonth() + 1 === m && today.getDate() < d)) age--;
  return age;
}

function handle(form, statusId, submit) {
  const status = document.getElementById(statusId);
  // the browser's own check stopped the form: an earlier message no longer applies
  form.addEventListener('invalid', () => say(status, ''), true);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    say(status, 'One moment…');
    try {
      await submit(new FormData(form));
      location.assign(next());
    } catch (err) {
      say(status, err.message, true);
      button.disabled = false;
    }
  });
}

handle(document.getElementById('login'), 'login-status', async (f) => {
  try {
    await post('/api/auth/login', { email: f.get('email'), password: f.get('password') });
  } catch (err) {
    if (err.status === 401) throw new Error('That email and password do not match.');
    if (err.status === 429) throw new Error(`Too many attempts. ${err.message.replace(/^Too many requests just now\. /, '')}`);
    throw err;
  }
});

handle(document.getElementById('register'), 'register-status', async (f) => {
  const birthDate = String(f.get('birthDate') || '');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) throw new Error('Enter your date of birth.');
  if (ageOn(birthDate) < 18) throw new Error('Xplicit is only for people aged 18 and over.');
  if (!f.get('adult') || !f.get('acceptTerms')) throw new Error('Confirm that you are 18 or older and accept the terms.');
  try {
    await post('/api/auth/register', {
      email: f.get('email'),
      handle: String(f.get('handle') || '').toLowerCase(),
      password: f.get('password'),
      birthDate,
      acceptTerms: true,
    });
  } catch (err) {
    if (err.code === 'underage') throw new Error('Xplicit is only for people aged 18 and over.');
    throw err;
  }
});
