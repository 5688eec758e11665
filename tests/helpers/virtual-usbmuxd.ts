import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsbmuxdServer } from '../../src/virtual-iphone/usbmuxd/usbmuxd-server.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';

export interface VirtualUsbmuxd {
  /** For USBMUXD_SOCKET_ADDRESS or UsbmuxdClient({ address }): "UNIX:/tmp/…/usbmuxd.sock" or "127.0.0.1:PORT". */
  address: string;
  /** The unix socket path (empty string when serving TCP). */
  socketPath: string;
  iphone: VirtualIPhone;
  server: UsbmuxdServer;
  /** The DeviceID the iPhone was attached with. */
  deviceId: number;
  close(): Promise<void>;
}

export interface VirtualUsbmuxdOptions {
  iphone?: VirtualIPhone;
  /** Persist SystemBUID and pair records here; default in memory. */
  stateDir?: string;
  /** Serve TCP on 127.0.0.1 with an OS-chosen port instead of a unix socket. */
  tcp?: boolean;
}

/**
 * Serves a VirtualIPhone behind a usbmuxd-compatible socket in this process, on a unique temporary
 * unix socket (or loopback TCP). close() stops the server and removes the socket and its folder.
 */
export async function startVirtualUsbmuxd(options: VirtualUsbmuxdOptions = {}): Promise<VirtualUsbmuxd> {
  const iphone = options.iphone ?? new VirtualIPhone();
  const server = new UsbmuxdServer(options.stateDir ? { stateDir: options.stateDir } : {});
  const deviceId = server.attach(iphone);
  let dir: string | undefined;
  let socketPath = '';
  let address: string;
  try {
    if (options.tcp) {
      address = await server.listen('127.0.0.1:0');
    } else {
      dir = mkdtempSync(join(tmpdir(), 'lifeboat-usbmuxd-'));
      socketPath = join(dir, 'usbmuxd.sock');
      address = await server.listen(`UNIX:${socketPath}`);
    }
  } catch (error) {
    await server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    address,
    socketPath,
    iphone,
    server,
    deviceId,
    async close() {
      await server.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
