import { GLOBAL_OPTIONS_USAGE, type CliCommand, type ParsedArgs } from '../args.ts';
import { openDevice } from '../device.ts';
import { LockdownClient } from '../../lockdown/lockdown-client.ts';
import { UsbmuxdPairingStore } from '../../lockdown/pairing-store.ts';

export const pairCommand: CliCommand = {
  name: 'pair',
  summary: 'Pair with the device (tap Trust on the iPhone)',
  usage: ['usage: npm run cli -- pair', '', 'Creates a pairing shared with libimobiledevice through usbmuxd.', GLOBAL_OPTIONS_USAGE].join('\n'),
  async run(args: ParsedArgs): Promise<number> {
    const { connector, client } = await openDevice(args);
    const lockdown = await LockdownClient.connect(connector, { store: new UsbmuxdPairingStore(client), label: 'lifeboat-cli' });
    try {
      let prompted = false;
      await lockdown.pair((progress) => {
        if (progress === 'waiting-for-trust' && !prompted) {
          prompted = true;
          args.io.out('Tap Trust on your iPhone and enter your passcode.\n');
        }
      });
      args.io.out(`Paired with ${connector.device.udid}.\n`);
      return 0;
    } finally {
      await lockdown.close();
    }
  },
};
