/** An MBFile EncryptionKey as this device makes them: a 4-byte protection class and a 40-byte wrapped key. */
export const KEY_BYTES = 44;

/**
 * The MBFile EncryptionKey of each row of an encrypted backup, held in one buffer: as a Uint8Array each,
 * every key of a 1.3M-file phone was a typed array and an ArrayBuffer on the worker's JS heap. (That was
 * not what sets the worker's peak in an encrypted backup: 621 MB after, 633–647 MB before.) A key of
 * another length (a host's previous Manifest.db may hold anything) is kept on its own.
 */
export class EncryptionKeys {
  private bytes: Uint8Array;
  /** 1 where row i has a key of KEY_BYTES in `bytes`. */
  private present: Uint8Array;
  private readonly odd = new Map<number, Uint8Array>();

  constructor(length: number) {
    this.bytes = new Uint8Array(length * KEY_BYTES);
    this.present = new Uint8Array(length);
  }

  /** Keys already laid out as this class keeps them: `KEY_BYTES` per row in `bytes`, and 1 in `present` where a row has one. */
  static of(bytes: Uint8Array, present: Uint8Array): EncryptionKeys {
    if (bytes.byteLength !== present.byteLength * KEY_BYTES) throw new RangeError(`${bytes.byteLength} bytes of keys for ${present.byteLength} rows`);
    const keys = new EncryptionKeys(0);
    keys.bytes = bytes;
    keys.present = present;
    return keys;
  }

  /** Rows it has room for. */
  get length(): number {
    return this.present.length;
  }

  /** Makes room for `length` rows (keeping those it has); for a table whose row count is not known ahead. */
  grow(length: number): void {
    if (length <= this.present.length) return;
    const bytes = new Uint8Array(length * KEY_BYTES);
    bytes.set(this.bytes);
    const present = new Uint8Array(length);
    present.set(this.present);
    this.bytes = bytes;
    this.present = present;
  }

  set(i: number, key: Uint8Array | undefined): void {
    if (i < 0 || i >= this.present.length) throw new RangeError(`row ${i} is outside ${this.present.length} rows`);
    this.odd.delete(i);
    this.present[i] = 0;
    if (!key) return;
    if (key.byteLength === KEY_BYTES) {
      this.bytes.set(key, i * KEY_BYTES);
      this.present[i] = 1;
    } else {
      this.odd.set(i, key.slice());
    }
  }

  /** Row i's key (a view of the shared buffer), or undefined. */
  get(i: number): Uint8Array | undefined {
    if (this.present[i] === 1) return this.bytes.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
    return this.odd.get(i);
  }

  has(i: number): boolean {
    return this.present[i] === 1 || this.odd.has(i);
  }
}
