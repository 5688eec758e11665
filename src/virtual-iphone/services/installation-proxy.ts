import type { ByteStream } from '../../core/byte-stream.ts';
import { encodeXmlPlist, isPlistDict, PlistConnection, type PlistDict } from '../../plist/index.ts';
import type { AppInfo } from '../dataset/dataset.ts';

export const INSTALLATION_PROXY_SERVICE = 'com.apple.mobile.installation_proxy';
const PAGE_SIZE = 20;

export function appRecord(app: AppInfo): PlistDict {
  const families = app.deviceFamilies ?? [1, 2];
  const itunesMetadata = encodeXmlPlist({ itemName: app.name, bundleVersion: app.version, softwareVersionBundleId: app.bundleId, artistName: 'Example Developer', genre: 'Utilities', UIDeviceFamily: families });
  return {
    ApplicationType: 'User',
    CFBundleIdentifier: app.bundleId,
    CFBundleDisplayName: app.name,
    CFBundleName: app.name,
    CFBundleShortVersionString: app.version,
    CFBundleVersion: app.version,
    CFBundleExecutable: app.name,
    Path: `/private/var/containers/Bundle/Application/${app.bundleId}/${app.name}.app`,
    Container: `/private/var/mobile/Containers/Data/Application/${app.bundleId}`,
    ApplicationSINF: new TextEncoder().encode(`sinf:${app.bundleId}`),
    iTunesMetadata: itunesMetadata,
    UIDeviceFamily: families,
  };
}

/** com.apple.mobile.installation_proxy: Browse (paged) and Lookup over the dataset's apps. */
export function installationProxyHandler(apps: () => Promise<AppInfo[]>): (stream: ByteStream) => void {
  return (stream) => {
    void serve(stream, apps).catch(() => stream.close());
  };
}

async function serve(stream: ByteStream, apps: () => Promise<AppInfo[]>): Promise<void> {
  const conn = new PlistConnection(stream, 'installation_proxy');
  try {
    for (;;) {
      const message = await conn.receiveOrEnd();
      if (message === null) break;
      if (!isPlistDict(message)) continue;
      const options = isPlistDict(message['ClientOptions']) ? message['ClientOptions'] : {};
      const wanted = Array.isArray(options['ReturnAttributes']) ? options['ReturnAttributes'].filter((a): a is string => typeof a === 'string') : null;
      const type = typeof options['ApplicationType'] === 'string' ? options['ApplicationType'] : 'Any';
      const records = (await apps()).map(appRecord).filter((r) => type === 'Any' || type === 'User');
      const shaped = records.map((r) => (wanted ? Object.fromEntries(wanted.filter((k) => r[k] !== undefined).map((k) => [k, r[k]!])) : r));
      if (message['Command'] === 'Browse') {
        for (let i = 0; i < shaped.length; i += PAGE_SIZE) {
          const page = shaped.slice(i, i + PAGE_SIZE);
          await conn.send({ Status: 'BrowsingApplications', CurrentIndex: i, CurrentAmount: page.length, Total: shaped.length, CurrentList: page });
        }
        await conn.send({ Status: 'Complete' });
      } else if (message['Command'] === 'Lookup') {
        const ids = Array.isArray(options['BundleIDs']) ? options['BundleIDs'] : null;
        const result: PlistDict = {};
        shaped.forEach((r, i) => {
          const id = records[i]!['CFBundleIdentifier'] as string;
          if (!ids || ids.includes(id)) result[id] = r;
        });
        await conn.send({ LookupResult: result, Status: 'Complete' });
      } else {
        await conn.send({ Error: 'UnknownCommand', ErrorDescription: `Unknown command ${String(message['Command'])}` });
      }
    }
  } finally {
    await stream.close();
  }
}
