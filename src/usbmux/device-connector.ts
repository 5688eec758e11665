import type { ByteStream } from '../core/byte-stream.ts';
import type { TraceTap } from '../diagnostics/stream-tap.ts';

/** What a host learns about an attached device before talking to it. */
export interface AttachedDevice {
  /** The UDID exactly as usbmux reports it (24-char UDIDs get the dash after the 8th character). */
  readonly udid: string;
  readonly productId: number;
  readonly connectionType: 'USB' | 'Network';
}

/**
 * The seam between transport and protocols: "open a stream to device port N".
 * Implemented by the WebUSB mux stack (browser) and by a usbmuxd socket client (Node).
 */
export interface DeviceConnector {
  readonly device: AttachedDevice;
  /** Throws ConnectionRefusedError when nothing listens on the port, DeviceDisconnectedError when gone. */
  connect(port: number): Promise<ByteStream>;
  /** When set, lockdown reports every connection's plaintext to this diagnostics tap. */
  readonly trace?: TraceTap | undefined;
}

/**
 * Where pair records and the host's SystemBUID live: usbmuxd in Node (so the CLI shares the system's
 * pairing with libimobiledevice), IndexedDB in the browser. Records are libimobiledevice-format plists.
 */
export interface PairRecordSource {
  readBuid(): Promise<string>;
  readPairRecord(udid: string): Promise<Uint8Array | null>;
  savePairRecord(udid: string, record: Uint8Array): Promise<void>;
  deletePairRecord(udid: string): Promise<void>;
}

export const LOCKDOWN_PORT = 62078;
