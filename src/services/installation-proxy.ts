import { LifeboatError } from '../core/errors.ts';
import { isPlistDict, type PlistDict } from '../plist/index.ts';
import { PlistConnection } from '../plist/plist-connection.ts';
import type { ServiceProvider } from './service-provider.ts';

export const INSTALLATION_PROXY_SERVICE = 'com.apple.mobile.installation_proxy';

/** installation_proxy: just Browse, which is all a backup needs (the app list for Info.plist). */
export class InstallationProxyClient {
  private constructor(private readonly conn: PlistConnection) {}

  static async start(provider: ServiceProvider): Promise<InstallationProxyClient> {
    return new InstallationProxyClient(new PlistConnection(await provider.startService(INSTALLATION_PROXY_SERVICE), 'installation_proxy'));
  }

  /** Apps of `applicationType` with the requested attributes; collects every page until Complete. */
  async browse(options: { applicationType?: 'User' | 'System' | 'Any'; returnAttributes?: string[] } = {}): Promise<PlistDict[]> {
    await this.conn.send(
      {
        Command: 'Browse',
        ClientOptions: {
          ApplicationType: options.applicationType ?? 'User',
          ReturnAttributes: options.returnAttributes ?? ['CFBundleIdentifier', 'ApplicationSINF', 'iTunesMetadata'],
        },
      },
      'binary',
    );
    const apps: PlistDict[] = [];
    for (;;) {
      const msg = await this.conn.receive();
      if (!isPlistDict(msg)) continue;
      if (typeof msg.Error === 'string') {
        throw new LifeboatError('device-error', `The device could not list apps: ${msg.Error}${typeof msg.ErrorDescription === 'string' ? ` (${msg.ErrorDescription})` : ''}`);
      }
      if (Array.isArray(msg.CurrentList)) for (const app of msg.CurrentList) if (isPlistDict(app)) apps.push(app);
      if (msg.Status === 'Complete') return apps;
    }
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
