// Services the mux tests connect to on the virtual iPhone: echo, a source of N random bytes (reporting
// its SHA-256), and a sink that answers with the SHA-256 of what it received.
import { createHash } from 'node:crypto';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import type { VirtualDevicePorts } from '../../src/virtual-iphone/virtual-device.ts';

export const ECHO_PORT = 7;
export const SOURCE_PORT = 1000;
export const SINK_PORT = 1001;
export const CLOSING_PORT = 1002;

export interface SourceRecord {
  bytes: number;
  sha256: string;
}

/** Hashes of everything the source services sent, in connection order. */
export interface TestServices {
  sent: SourceRecord[];
}

export function registerTestServices(ports: VirtualDevicePorts, options: { sinkDelayMs?: number } = {}): TestServices {
  const services: TestServices = { sent: [] };
  ports.listen(ECHO_PORT, (stream) => void echo(stream));
  ports.listen(SOURCE_PORT, (stream) => void source(stream, services));
  ports.listen(SINK_PORT, (stream) => void sink(stream, options.sinkDelayMs ?? 0));
  ports.listen(CLOSING_PORT, (stream) => void closing(stream));
  return services;
}

async function echo(stream: ByteStream): Promise<void> {
  try {
    for (;;) {
      const chunk = await stream.read();
      if (chunk === null) break;
      await stream.write(chunk.slice());
    }
  } catch {
    // the host went away
  }
  await stream.close();
}

/** Reads an 8-byte big-endian length, then sends that many random bytes in 64 KiB chunks. */
async function source(stream: ByteStream, services: TestServices): Promise<void> {
  const reader = new BufferedReader(stream, 'source');
  try {
    const header = await reader.readExactly(8);
    const total = Number(new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0));
    const hash = createHash('sha256');
    let sent = 0;
    while (sent < total) {
      const chunk = new Uint8Array(Math.min(65536, total - sent));
      globalThis.crypto.getRandomValues(chunk);
      hash.update(chunk);
      await stream.write(chunk);
      sent += chunk.byteLength;
    }
    services.sent.push({ bytes: sent, sha256: hash.digest('hex') });
  } catch {
    // the host went away
  }
  await stream.close();
}

/** Reads an 8-byte length, consumes that many bytes (optionally slowly), answers with their SHA-256. */
async function sink(stream: ByteStream, delayMs: number): Promise<void> {
  const reader = new BufferedReader(stream, 'sink');
  try {
    const header = await reader.readExactly(8);
    const total = Number(new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0));
    const hash = createHash('sha256');
    let received = 0;
    while (received < total) {
      const chunk = await reader.readAvailable(total - received);
      if (chunk === null) throw new Error('sink: stream ended early');
      hash.update(chunk);
      received += chunk.byteLength;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    }
    await stream.write(new Uint8Array(hash.digest()));
  } catch {
    // the host went away
  }
}

/** Sends a greeting and closes its end at once (the host must see the data, then end of stream). */
async function closing(stream: ByteStream): Promise<void> {
  await stream.write(new TextEncoder().encode('bye'));
  await stream.close();
}

export function lengthHeader(n: number): Uint8Array {
  const header = new Uint8Array(8);
  new DataView(header.buffer).setBigUint64(0, BigInt(n));
  return header;
}
