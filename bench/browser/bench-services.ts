// Bench-only services on the virtual iPhone: a source that streams N bytes (length sent first as
// 8 bytes big-endian) from one preallocated buffer, so the figure measures the mux and not data generation.
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import type { VirtualDevicePorts } from '../../src/virtual-iphone/virtual-device.ts';

export const BENCH_SOURCE_PORT = 5000;
/** Reads N bytes (length first, as the source) and answers one byte once all arrived. */
export const BENCH_SINK_PORT = 5001;

export function registerBenchServices(ports: VirtualDevicePorts): void {
  const block = new Uint8Array(256 * 1024).map((_, i) => (i * 131) & 0xff);
  ports.listen(BENCH_SOURCE_PORT, (stream) => void source(stream, block));
  ports.listen(BENCH_SINK_PORT, (stream) => void sink(stream));
}

async function sink(stream: ByteStream): Promise<void> {
  try {
    const reader = new BufferedReader(stream);
    const header = await reader.readExactly(8);
    const total = Number(new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0));
    let left = total;
    while (left > 0) {
      const chunk = await reader.readAvailable();
      if (chunk === null) throw new Error('the host closed early');
      left -= chunk.byteLength;
    }
    await stream.write(new Uint8Array([1]));
  } catch {
    // host went away
  }
  await stream.close();
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

/**
 * Writes `total` bytes to a fresh connection to the sink in 256 KiB writes (DownloadFiles' write size,
 * the incremental backup's direction: the host hands the phone its previous Manifest.db); MB/s.
 */
export async function measureUpload(connect: (port: number) => Promise<ByteStream>, total: number): Promise<number> {
  const stream = await connect(BENCH_SINK_PORT);
  const block = new Uint8Array(256 * 1024).map((_, i) => (i * 7) & 0xff);
  const header = new Uint8Array(8);
  new DataView(header.buffer).setBigUint64(0, BigInt(total));
  const start = performance.now();
  await stream.write(header);
  for (let sent = 0; sent < total; ) {
    const n = Math.min(block.byteLength, total - sent);
    await stream.write(block.subarray(0, n));
    sent += n;
  }
  const done = await stream.read();
  const seconds = (performance.now() - start) / 1000;
  await stream.close();
  if (!done || done[0] !== 1) throw new Error('the sink did not confirm');
  return total / 1e6 / seconds;
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
