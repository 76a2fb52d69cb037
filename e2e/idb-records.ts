/** What the browser tests read from the model store's IndexedDB databases themselves (not through the store's bookkeeping). */
import type { Page } from 'playwright-core';

/** All keys of `storeName` in the database `dbName` ([] when the database or the store does not exist). */
export function idbKeys(page: Page, dbName: string, storeName: string): Promise<IDBValidKey[]> {
  return page.evaluate(
    ({ dbName, storeName }) =>
      new Promise<IDBValidKey[]>((resolve, reject) => {
        const open = indexedDB.open(dbName);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains(storeName)) return (db.close(), resolve([]));
          const req = db.transaction(storeName).objectStore(storeName).getAllKeys();
          req.onsuccess = () => (db.close(), resolve(req.result));
          req.onerror = () => reject(req.error);
        };
      }),
    { dbName, storeName },
  );
}

/** Chunk records (and chunk parts) in the store, of every model. */
export async function chunkRecords(page: Page): Promise<number> {
  return (await idbKeys(page, 'lowbit-chunks', 'chunks')).length;
}

/** Ids of the models the store has a manifest for, ready or not. */
export async function manifestIds(page: Page): Promise<string[]> {
  return (await idbKeys(page, 'lowbit-manifests', 'manifests')).map(String);
}
