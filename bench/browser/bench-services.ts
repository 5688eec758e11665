// Bench-only services on the virtual iPhone: a source that streams N bytes (length sent first as
// 8 bytes big-endian) from one preallocated buffer, so the figure measures the mux and not data generation.
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import type { VirtualDevicePorts } from '../../src/virtual-iphone/virtual-device.ts';

export const BENCH_SOURCE_PORT = 5000;

export function registerBenchServices(ports: VirtualDevicePorts): void {
  const block = new Uint8Array(256 * 1024).map((_, i) => (i * 131) & 0xff);
  ports.listen(BENCH_SOURCE_PORT, (stream) => void source(stream, block));
}

async function source(stream: ByteStream, block: Uint8Array): Promise<void> {
  try {
    const header = await new BufferedReader(stream).readExactly(8);
    const total = Number(new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0));
    for (let sent = 0; sent < total; ) {
      const n = Math.min(block.byteLength, total - sent);
      await stream.write(block.subarray(0, n));
      sent += n;
    }
  } catch {
    // host went away
  }
  await stream.close();
}

/** A stream that can copy into the consumer's buffer (MuxConnection): its transfers get reused. */
interface CopyingStream extends ByteStream {
  readInto(target: Uint8Array): Promise<number | null>;
}

/**
 * How the bench consumer takes bytes: 'read' owns every chunk (ByteStream's contract, so each transfer
 * is fresh memory), 'readInto' copies into one reused buffer (a hasher's or file writer's pattern).
 */
export type ConsumerMode = 'read' | 'readInto';

/** Reads `total` bytes from a fresh connection to the source; returns MB/s (10^6 bytes per second). */
export async function measureDownload(
  connect: (port: number) => Promise<ByteStream>,
  total: number,
  mode: ConsumerMode = 'read',
): Promise<number> {
  const stream = await connect(BENCH_SOURCE_PORT);
  const copying = mode === 'readInto' ? (stream as Partial<CopyingStream>) : undefined;
  if (copying && typeof copying.readInto !== 'function') throw new Error('this stream cannot readInto');
  const target = new Uint8Array(256 * 1024);
  const header = new Uint8Array(8);
  new DataView(header.buffer).setBigUint64(0, BigInt(total));
  const start = performance.now();
  await stream.write(header);
  let received = 0;
  if (copying) {
    for (;;) {
      const n = await copying.readInto!(target);
      if (n === null) break;
      received += n;
    }
  } else {
    for (;;) {
      const chunk = await stream.read();
      if (chunk === null) break;
      received += chunk.byteLength;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await stream.close();
  if (received !== total) throw new Error(`received ${received} of ${total} bytes`);
  return total / 1e6 / seconds;
}
