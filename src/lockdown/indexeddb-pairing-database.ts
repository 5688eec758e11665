import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { KeyValuePairingStore, type PairingDatabase, type StoredPairing } from './pairing-store.ts';

interface PairingSchema extends DBSchema {
  pairings: { key: string; value: StoredPairing };
  settings: { key: string; value: { name: string; value: string } };
}

/**
 * IndexedDB behind the browser's PairingStore. CryptoKeys are stored by structured clone, so a
 * non-extractable host key stays non-extractable across reloads.
 */
export class IndexedDbPairingDatabase implements PairingDatabase {
  private dbPromise: Promise<IDBPDatabase<PairingSchema>> | undefined;

  constructor(private readonly name = 'lifeboat-pairing') {}

  private db(): Promise<IDBPDatabase<PairingSchema>> {
    this.dbPromise ??= openDB<PairingSchema>(this.name, 1, {
      upgrade(db) {
        db.createObjectStore('pairings', { keyPath: 'udid' });
        db.createObjectStore('settings', { keyPath: 'name' });
      },
    });
    return this.dbPromise;
  }

  async getPairing(udid: string): Promise<StoredPairing | undefined> {
    return (await this.db()).get('pairings', udid);
  }

  async putPairing(pairing: StoredPairing): Promise<void> {
    await (await this.db()).put('pairings', pairing);
  }

  async deletePairing(udid: string): Promise<void> {
    await (await this.db()).delete('pairings', udid);
  }

  async getSetting(name: string): Promise<string | undefined> {
    return (await (await this.db()).get('settings', name))?.value;
  }

  async putSetting(name: string, value: string): Promise<void> {
    await (await this.db()).put('settings', { name, value });
  }
}

/** The browser's pairing store. */
export function createIndexedDbPairingStore(databaseName?: string): KeyValuePairingStore {
  return new KeyValuePairingStore(new IndexedDbPairingDatabase(databaseName));
}
