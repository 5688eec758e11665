import { GLOBAL_OPTIONS_USAGE, type CliCommand, type ParsedArgs } from '../args.ts';
import { openDevice } from '../device.ts';
import { LockdownClient } from '../../lockdown/lockdown-client.ts';
import { UsbmuxdPairingStore } from '../../lockdown/pairing-store.ts';

export const unpairCommand: CliCommand = {
  name: 'unpair',
  summary: 'Make the device and this computer forget their pairing',
  usage: ['usage: npm run cli -- unpair', GLOBAL_OPTIONS_USAGE].join('\n'),
  async run(args: ParsedArgs): Promise<number> {
    const { connector, client } = await openDevice(args);
    const store = new UsbmuxdPairingStore(client);
    const lockdown = await LockdownClient.connect(connector, { store, label: 'lifeboat-cli' });
    try {
      if (!(await lockdown.loadPairing())) {
        args.io.out(`Not paired with ${connector.device.udid}.\n`);
        return 0;
      }
      await lockdown.unpair();
      args.io.out(`Unpaired ${connector.device.udid}.\n`);
      return 0;
    } finally {
      await lockdown.close();
    }
  },
};
