// Persistent key/value store for the real-time client: IndexedDB (works in tabs and in workers),
// with an in-memory fallback where IndexedDB is unavailable (some private modes and WebViews).
const DB_NAME = 'xplicit-rt';
const STORE = 'kv';
let dbPromise = null;
const memory = new Map();

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve) => {
      try {
        const req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = () => req.result.createObjectStore(STORE);
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => resolve(null);
        req.onblocked = () => resolve(null);
      } catch {
        resolve(null);
      }
    });
  }
  return dbPromise;
}

function run(mode, fn) {
  return openDb().then((db) => {
    if (!db) return undefined;
    return new Promise((resolve) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = tx.onabort = () => resolve(undefined);
    });
  });
}

export async function get(key) {
  const v = await run('readonly', (s) => s.get(key));
  return v === undefined ? memory.get(key) : v;
}

export async function set(key, value) {
  memory.set(key, value);
  await run('readwrite', (s) => s.put(value, key));
}

/** The browser's clientId: generated once, kept (protocol: 8–64 chars of [A-Za-z0-9_-]). */
export async function clientId() {
  let id = await get('clientId');
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
    id = 'c' + crypto.randomUUID().replace(/-/g, '');
    await set('clientId', id);
  }
  return id;
}
