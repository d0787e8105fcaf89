/* IndexedDB access for the inspector app: one database, three stores.
 *
 *   outbox  — items waiting for (or confirmed by) the server, keyed by id, FIFO by createdAt
 *   photos  — photo bytes as ArrayBuffer + MIME type (never Blob: Safari has lost Blobs in IndexedDB
 *             across releases), keyed by photo id, indexed by the owning item/draft id
 *   kv      — small records: the session, reference data, drafts, category usage, my findings
 *
 * Safari closes connections behind our back (backgrounded tabs, storage pressure): a `close` event or
 * an InvalidStateError from transaction() drops the cached connection and the call is retried once
 * on a fresh one.
 */
const DB_NAME = "xuncha";
const DB_VERSION = 1;

let connection = null;

function upgrade(db) {
  if (!db.objectStoreNames.contains("outbox")) {
    db.createObjectStore("outbox", { keyPath: "id" }).createIndex("createdAt", "createdAt");
  }
  if (!db.objectStoreNames.contains("photos")) {
    db.createObjectStore("photos", { keyPath: "id" }).createIndex("owner", "owner");
  }
  if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
}

function forget(db) {
  if (connection && connection.db === db) connection = null;
}

function open() {
  if (connection) return connection.ready;
  const entry = {};
  entry.ready = new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => upgrade(request.result);
    request.onsuccess = () => {
      const db = request.result;
      entry.db = db;
      db.onclose = () => forget(db);
      // Another tab is upgrading the schema: step aside so it can, and reopen on next use.
      db.onversionchange = () => {
        db.close();
        forget(db);
      };
      resolve(db);
    };
    request.onerror = () => {
      forget(entry.db);
      connection = null;
      reject(request.error);
    };
    request.onblocked = () => {
      /* an old tab holds the previous version open; onsuccess follows once it closes */
    };
  });
  connection = entry;
  return entry.ready;
}

/** Promise for one IDBRequest. */
export function req(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * Run `work(tx)` in one transaction and resolve with its result once the transaction has COMMITTED
 * (not merely when the last request succeeded): callers rely on "resolved" meaning "on disk".
 * `work` may await IDB requests of `tx`, but nothing else (the transaction would auto-commit).
 */
export async function run(storeNames, mode, work) {
  for (let attempt = 0; ; attempt += 1) {
    const db = await open();
    let tx;
    try {
      tx = db.transaction(storeNames, mode);
    } catch (err) {
      if (attempt === 0 && err && err.name === "InvalidStateError") {
        forget(db);
        continue;
      }
      throw err;
    }
    const done = new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new DOMException("transaction aborted", "AbortError"));
    });
    let result;
    try {
      result = await work(tx);
    } catch (err) {
      try {
        tx.abort();
      } catch (ignored) {
        /* already finished */
      }
      await done.catch(() => {});
      throw err;
    }
    await done;
    return result;
  }
}

export function kvGet(key) {
  return run(["kv"], "readonly", (tx) => req(tx.objectStore("kv").get(key)));
}

export function kvSet(key, value) {
  return run(["kv"], "readwrite", (tx) => req(tx.objectStore("kv").put(value, key)));
}

export function kvDelete(key) {
  return run(["kv"], "readwrite", (tx) => req(tx.objectStore("kv").delete(key)));
}
