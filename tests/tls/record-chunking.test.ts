// The record layer against a transport that cuts the byte stream anywhere: records straddling chunks
// (the usual case under usbmux, whose chunks are 64 KiB and records 16 KiB), headers split in two,
// several records per chunk, and plaintext that follows close_notify in the same chunk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { acceptTls, connectTls, type TlsIdentity } from '../../src/tls/index.ts';
import { makeTempDir, pairingIdentities, tlsIdentity, withTimeout } from './helpers.ts';

let temp: ReturnType<typeof makeTempDir>;
let hostIdentity: TlsIdentity;
let deviceIdentity: TlsIdentity;

before(async () => {
  temp = makeTempDir();
  const { host, device } = pairingIdentities(temp.dir, 'sha256');
  hostIdentity = await tlsIdentity(host);
  deviceIdentity = await tlsIdentity(device);
});
after(() => temp.cleanup());

/** Re-cuts everything read from `inner` into chunks of the given sizes, in turn. */
class Rechunker implements ByteStream {
  private pending: Uint8Array = new Uint8Array(0);
  private turn = 0;
  private ended = false;

  constructor(
    private readonly inner: ByteStream,
    private readonly sizes: number[],
  ) {}

  async read(): Promise<Uint8Array | null> {
    const want = this.sizes[this.turn++ % this.sizes.length]!;
    // Only wait for the peer when nothing is here: it may be waiting for our answer to these bytes.
    while (this.pending.byteLength === 0 && !this.ended) {
      const chunk = await this.inner.read();
      if (chunk === null) this.ended = true;
      else this.pending = chunk;
    }
    if (this.pending.byteLength === 0) return null;
    const out = this.pending.slice(0, want);
    this.pending = this.pending.subarray(out.byteLength);
    return out;
  }

  write(data: Uint8Array): Promise<void> {
    return this.inner.write(data);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

const CUTS = [1, 2, 3, 4, 5, 6, 13, 4096, 16413, 16417, 65500, 40000, 7, 100_000, 16384];

test('records that straddle transport chunks arrive intact, in order, both ways', { timeout: 30_000 }, async () => {
  const [a, b] = createStreamPair(1 << 20);
  const [client, server] = await withTimeout(
    Promise.all([
      connectTls(new Rechunker(a, CUTS), { identity: hostIdentity, cipherSuites: [0xc02f] }),
      acceptTls(new Rechunker(b, [...CUTS].reverse()), { identity: deviceIdentity, requestClientCertificate: true }),
    ]),
    10_000,
    'handshake',
  );
  const total = 3 * 1024 * 1024 + 12345;
  const data = new Uint8Array(total).map((_, i) => (i * 31 + (i >> 11)) & 0xff);
  const expected = createHash('sha256').update(data).digest('hex');
  const writes = (async () => {
    for (let offset = 0; offset < total; ) {
      const n = Math.min(total - offset, 1 + ((offset * 7) % 200_000));
      await client.write(data.subarray(offset, offset + n));
      offset += n;
    }
  })();
  const hash = createHash('sha256');
  let received = 0;
  while (received < total) {
    const chunk = await server.read();
    assert.ok(chunk, `stream ended after ${received} of ${total} bytes`);
    hash.update(chunk);
    received += chunk.byteLength;
  }
  await writes;
  assert.equal(received, total);
  assert.equal(hash.digest('hex'), expected);

  await server.write(new TextEncoder().encode('reply'));
  assert.equal(new TextDecoder().decode((await client.read())!), 'reply');

  // StopSession: plaintext written right after close_notify must survive whatever chunk it lands in.
  const clientRawPromise = client.shutdown();
  assert.equal(await server.read(), null);
  const serverRaw = await server.shutdown();
  const clientRaw = await clientRawPromise;
  const plain = new TextEncoder().encode('plaintext after TLS');
  await clientRaw.write(plain);
  let got = new Uint8Array(0);
  while (got.byteLength < plain.byteLength) {
    const chunk = await serverRaw.read();
    assert.ok(chunk);
    const joined = new Uint8Array(got.byteLength + chunk.byteLength);
    joined.set(got);
    joined.set(chunk, got.byteLength);
    got = joined;
  }
  assert.deepEqual(got, plain);
  await clientRaw.close();
});
