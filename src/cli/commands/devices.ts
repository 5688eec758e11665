import type { CliCommand, ParsedArgs } from '../args.ts';
import { GLOBAL_OPTIONS_USAGE } from '../args.ts';
import { usbmuxdClientFor } from '../device.ts';

export const devicesCommand: CliCommand = {
  name: 'devices',
  summary: 'List attached devices (UDID, connection, USB product id)',
  usage: ['usage: npm run cli -- devices [--usbmuxd ADDRESS]', '', GLOBAL_OPTIONS_USAGE].join('\n'),
  async run(args: ParsedArgs): Promise<number> {
    const devices = await usbmuxdClientFor(args).listDevices();
    if (devices.length === 0) {
      args.io.out('No devices attached.\n');
      return 0;
    }
    const rows = devices.map((d) => [d.udid, d.connectionType, `0x${d.productId.toString(16).padStart(4, '0')}`]);
    const header = ['UDID', 'CONNECTION', 'PRODUCT ID'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) {
      args.io.out(`${row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell)).join('  ')}\n`);
    }
    return 0;
  },
};
