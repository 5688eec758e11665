import { openDB, type IDBPDatabase } from 'idb';
import { generateDeviceKey, type DeviceKey } from './lockdownd/device-key.ts';
import { applyRemembered, captureRemembered, rememberedKey, rememberedSignature, type RememberedDevice } from './remembered.ts';
import type { VirtualIPhone } from './virtual-iphone.ts';

/** The demo device in the browser keeps what a phone remembers (remembered.ts) across page reloads, in IndexedDB. */
const STORE = 'memory';

export class VirtualIPhoneMemory {
  private lastSaved = '';

  private constructor(
    private readonly db: IDBPDatabase,
    private readonly key: string,
    private memory: RememberedDevice | undefined,
  ) {}

  static async open(udid: string, databaseName = 'lifeboat-virtual-iphone'): Promise<VirtualIPhoneMemory> {
    const db = await openDB(databaseName, 1, { upgrade: (d) => d.createObjectStore(STORE) });
    return new VirtualIPhoneMemory(db, udid, (await db.get(STORE, udid)) as RememberedDevice | undefined);
  }

  /** The remembered device key, or a new one (remembered at the next save). */
  async deviceKey(): Promise<DeviceKey> {
    return this.memory ? rememberedKey(this.memory) : generateDeviceKey();
  }

  /** Puts the remembered trusted hosts and keybag back into a freshly built phone. */
  async restoreInto(iphone: VirtualIPhone): Promise<void> {
    if (!this.memory) return;
    await applyRemembered(iphone, this.memory);
    this.lastSaved = rememberedSignature(iphone);
  }

  /** Saves when what a phone remembers has changed since the last save. */
  async saveIfChanged(iphone: VirtualIPhone): Promise<void> {
    const signature = rememberedSignature(iphone);
    if (signature === this.lastSaved) return;
    const memory = await captureRemembered(iphone);
    await this.db.put(STORE, memory, this.key);
    this.memory = memory;
    this.lastSaved = signature;
  }
}
