import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_VIRTUAL_USBMUXD_ADDRESS,
  VIRTUAL_IPHONE_OPTIONS,
  parseVirtualIPhoneArgs,
  virtualIPhoneUsage,
  type VirtualIPhoneCliOption,
} from '../../src/virtual-iphone/node/options.ts';
import { datasetProfile } from '../../src/virtual-iphone/dataset/dataset.ts';
import { installBackupServices, type BackupServicesHost } from '../../src/virtual-iphone/services/install.ts';

test('virtual-iphone options: main consumes --usbmuxd/--state, the rest pass through to VirtualIPhone', () => {
  const parsed = parseVirtualIPhoneArgs([
    '--usbmuxd', 'UNIX:/tmp/x.sock', '--state=/tmp/state', '--udid', '00008030-001a2b3c4d5e802e', '--model', 'iPhone15,2', '--ios', '17.5',
  ]);
  assert.deepEqual(parsed, {
    usbmuxd: 'UNIX:/tmp/x.sock',
    state: '/tmp/state',
    help: false,
    iphoneOptions: { udid: '00008030-001A2B3C4D5E802E', productType: 'iPhone15,2', productVersion: '17.5' },
  });
  assert.deepEqual(parseVirtualIPhoneArgs([]), { usbmuxd: DEFAULT_VIRTUAL_USBMUXD_ADDRESS, state: undefined, help: false, iphoneOptions: {} });
  assert.equal(parseVirtualIPhoneArgs(['--help']).help, true);
});

test('virtual-iphone options: bad input is a specific error, never silently ignored', () => {
  assert.throws(() => parseVirtualIPhoneArgs(['--no-such-option']), /unknown option --no-such-option/);
  assert.throws(() => parseVirtualIPhoneArgs(['--udid']), /--udid needs a value/);
  assert.throws(() => parseVirtualIPhoneArgs(['--udid', 'nope']), /--udid: "nope" is not a UDID/);
  assert.throws(() => parseVirtualIPhoneArgs(['--model', 'Pixel8']), /not a ProductType/);
  assert.throws(() => parseVirtualIPhoneArgs(['--ios', 'seventeen']), /not an iOS version/);
  assert.throws(() => parseVirtualIPhoneArgs(['stray']), /unexpected argument "stray"/);
});

test('virtual-iphone options: a row added to the table is parsed, passed through and documented', () => {
  const table: VirtualIPhoneCliOption[] = [
    ...VIRTUAL_IPHONE_OPTIONS,
    { name: 'product-id', value: 'PID', description: 'USB product id', iphoneOption: 'productId', parse: (raw) => Number.parseInt(raw, 16) },
  ];
  assert.deepEqual(parseVirtualIPhoneArgs(['--product-id', '12ab'], table).iphoneOptions, { productId: 0x12ab });
  assert.match(virtualIPhoneUsage(table), /--product-id PID\s+USB product id/);
});

test('virtual-iphone options: --dataset-scale takes a fraction and generates that share of the apps and photos', async () => {
  assert.deepEqual(parseVirtualIPhoneArgs(['--dataset', 'huge', '--dataset-scale', '0.1']).iphoneOptions, { dataset: 'huge', datasetScale: 0.1 });
  assert.throws(() => parseVirtualIPhoneArgs(['--dataset-scale', '2']), /--dataset-scale: "2" is not a fraction above 0 and at most 1/);
  assert.throws(() => parseVirtualIPhoneArgs(['--dataset-scale', '0']), /not a fraction/);
  const full = datasetProfile('small');
  const host: BackupServicesHost = { udid: '00008030-001A2B3C4D5E802E', registerService: () => undefined };
  const scaled = await installBackupServices(host, { dataset: 'small', datasetScale: 0.5 }).dataset();
  const apps = new Set(scaled.entries(false).filter((e) => e.domain.startsWith('AppDomain-com.example.')).map((e) => e.domain));
  assert.equal(apps.size, Math.round(full.apps * 0.5));
});
