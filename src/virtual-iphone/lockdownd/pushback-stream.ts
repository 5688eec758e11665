import type { ByteStream } from '../../core/byte-stream.ts';

/**
 * The lockdown connection switches between plaintext and TLS on the same bytes (StartSession /
 * StopSession). This stream lends itself to a TLS layer and takes itself back without losing a
 * chunk: a read still in flight when the lease ends is pushed back for the plaintext reader.
 */
export class PushbackStream implements ByteStream {
  private readonly pending: Uint8Array[] = [];

  constructor(private readonly inner: ByteStream) {}

  read(): Promise<Uint8Array | null> {
    const chunk = this.pending.shift();
    return chunk ? Promise.resolve(chunk) : this.inner.read();
  }

  unread(chunk: Uint8Array): void {
    if (chunk.byteLength > 0) this.pending.unshift(chunk);
  }

  write(data: Uint8Array): Promise<void> {
    return this.inner.write(data);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** A view for a TLS layer; after release() it reads nothing more and never closes the connection. */
  lease(): { stream: ByteStream; release(): void } {
    let released = false;
    const stream: ByteStream = {
      read: async () => {
        if (released) return null;
        const chunk = await this.read();
        if (released) {
          if (chunk) this.unread(chunk);
          return null;
        }
        return chunk;
      },
      write: (data) => (released ? Promise.reject(new Error('TLS lease released')) : this.write(data)),
      close: async () => {
        released = true;
      },
    };
    return {
      stream,
      release: () => {
        released = true;
      },
    };
  }
}
