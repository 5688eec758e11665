import type { ByteStream } from '../../src/core/byte-stream.ts';
import { ConnectionRefusedError } from '../../src/core/errors.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import type { ServiceProvider } from '../../src/services/service-provider.ts';
import type { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';

/** Reaches the virtual iPhone's services directly over in-memory pairs: no mux, no lockdown, no TLS. */
export class DirectServiceProvider implements ServiceProvider {
  readonly started: string[] = [];
  constructor(private readonly iphone: VirtualIPhone) {}

  async startService(name: string, options?: { withEscrowBag?: boolean }): Promise<ByteStream> {
    const handler = this.iphone.services.get(name);
    if (!handler) throw new ConnectionRefusedError(0, `no service ${name}`);
    this.started.push(`${name}${options?.withEscrowBag ? '+escrow' : ''}`);
    const [host, device] = createStreamPair(1 << 20);
    handler(device);
    return host;
  }
}
