import { isPlistDict } from '../plist/index.ts';
import { PlistConnection } from '../plist/plist-connection.ts';
import type { ServiceProvider } from './service-provider.ts';

export const SPRINGBOARD_SERVICE = 'com.apple.springboardservices';

/** springboardservices: app icons for Info.plist's PlaceholderIcon. */
export class SpringboardClient {
  private constructor(private readonly conn: PlistConnection) {}

  static async start(provider: ServiceProvider): Promise<SpringboardClient> {
    return new SpringboardClient(new PlistConnection(await provider.startService(SPRINGBOARD_SERVICE), 'springboardservices'));
  }

  /** PNG bytes of the app's icon, or null if the device has none. Keys are lower-case on this service. */
  async getIconPNGData(bundleId: string): Promise<Uint8Array | null> {
    await this.conn.send({ command: 'getIconPNGData', bundleId }, 'binary');
    const reply = await this.conn.receive();
    return isPlistDict(reply) && reply.pngData instanceof Uint8Array ? reply.pngData : null;
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
