import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.ts';
import type { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import type { FaultTrigger } from './fault-injection.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** How a CLI process ended: on its own (exit code and what it printed), or by our SIGKILL. */
export type CliEnd = { killed: false; code: number; stderr: string } | { killed: true; stderr: string };

/**
 * The `sigkill` fault's world: the devices behind a usbmuxd socket in this process, and every CLI
 * run as a real child process that reaches the socket through a byte-counting relay. When the run has
 * moved `point` bytes (either way, every connection) the child gets SIGKILL: no cleanup of any kind,
 * files half written as the kernel left them, sockets closed by the kernel.
 */
export class CliProcessLink {
  private readonly relayDir = mkdtempSync(join(tmpdir(), 'lifeboat-kill-'));
  private readonly relayPath = join(this.relayDir, 'usbmuxd.sock');
  private readonly sockets = new Set<Socket>();
  private trigger: FaultTrigger | undefined;
  private child: ChildProcess | undefined;

  private constructor(
    private readonly usbmuxd: VirtualUsbmuxd,
    private readonly relay: Server,
  ) {}

  /** Serves the devices and pairs this computer with each (the pair records live in the usbmuxd). */
  static async start(devices: readonly VirtualIPhone[]): Promise<CliProcessLink> {
    const usbmuxd = await startVirtualUsbmuxd({ iphone: devices[0]! });
    for (const d of devices.slice(1)) usbmuxd.server.attach(d);
    for (const d of devices) {
      let said = '';
      const code = await runCli(['pair', '-u', d.udid], { out: () => undefined, err: (t) => void (said += t) }, { USBMUXD_SOCKET_ADDRESS: usbmuxd.address });
      if (code !== 0) throw new Error(`pairing ${d.udid} for the CLI failed: ${said}`);
    }
    const relay = createServer();
    const link = new CliProcessLink(usbmuxd, relay);
    relay.on('connection', (down) => link.bridge(down));
    await new Promise<void>((resolve, reject) => relay.once('error', reject).listen(link.relayPath, resolve));
    return link;
  }

  /** Relays one client connection to the real socket, counting bytes and firing the kill at the point. */
  private bridge(down: Socket): void {
    const up = createConnection(this.usbmuxd.socketPath);
    this.sockets.add(down).add(up);
    const pass = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        const trigger = this.trigger;
        if (trigger?.fired) return; // the process is dead from this byte on
        if (trigger) {
          trigger.moved += chunk.length;
          if (trigger.kind === 'sigkill' && trigger.moved >= trigger.point) {
            trigger.fire(null);
            this.child?.kill('SIGKILL');
            return;
          }
        }
        to.write(chunk);
      });
    pass(down, up);
    pass(up, down);
    const end = () => {
      down.destroy();
      up.destroy();
      this.sockets.delete(down);
      this.sockets.delete(up);
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  }

  /**
   * Resolves once `iphone` is back on the bus: a rebooted phone re-attaches after a delay, and a CLI
   * started before then would rightly say it is not connected (a person waits for the phone too).
   */
  async whenAttached(iphone: VirtualIPhone, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.usbmuxd.server.deviceIdOf(iphone) === undefined) {
      if (Date.now() > deadline) throw new Error(`${iphone.udid} did not come back after its reboot`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** `npm run cli -- …args` as a child process; resolves when it is gone. */
  run(args: readonly string[], trigger: FaultTrigger): Promise<CliEnd> {
    this.trigger = trigger;
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
      cwd: root,
      env: { ...process.env, USBMUXD_SOCKET_ADDRESS: `UNIX:${this.relayPath}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    return new Promise<CliEnd>((resolve) => {
      child.on('close', (code, signal) => {
        this.child = undefined;
        // The kernel closed the dead process's sockets; the relay closes the device's side with them.
        resolve(signal === 'SIGKILL' ? { killed: true, stderr } : { killed: false, code: code ?? 1, stderr });
      });
    });
  }

  async close(): Promise<void> {
    this.child?.kill('SIGKILL');
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.relay.close(() => resolve()));
    await this.usbmuxd.close();
    rmSync(this.relayDir, { recursive: true, force: true });
  }
}
