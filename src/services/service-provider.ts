import type { ByteStream } from '../core/byte-stream.ts';

/**
 * What a service client needs from lockdown: a connected stream to a named device service,
 * already TLS-wrapped when the device asks for EnableServiceSSL. Tests substitute a provider that
 * reaches the virtual iPhone's services directly.
 */
export interface ServiceProvider {
  startService(name: string, options?: { withEscrowBag?: boolean }): Promise<ByteStream>;
}
