// Our client against our server over an in-memory pair: every suite with pairing-style (SHA-1)
// certificates, shutdown back to plaintext, bulk data, and the failure paths (refused or missing
// certificates, tampered records, truncated handshakes, oversized or foreign records).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { type TlsConnection, type TlsHandshakeInfo, TlsError, acceptTls, connectTls } from '../../src/tls/index.ts';
import type { TlsIdentity } from '../../src/tls/index.ts';
import { type PemIdentity, makeTempDir, pairingIdentities, pkcs8Of, tlsIdentity, withTimeout } from './helpers.ts';

let temp: ReturnType<typeof makeTempDir>;
let root: PemIdentity;
let host: PemIdentity;
let device: PemIdentity;
let hostIdentity: TlsIdentity;
let deviceIdentity: TlsIdentity;

before(async () => {
  temp = makeTempDir();
  ({ root, host, device } = pairingIdentities(temp.dir, 'sha1'));
  hostIdentity = await tlsIdentity(host, [], host.keyPkcs1Pem);
  deviceIdentity = await tlsIdentity(device);
});
after(() => temp.cleanup());

const SUITES = [0xc02f, 0xc030, 0x009c, 0x009d, 0x002f, 0x0035];
const text = (s: string) => new TextEncoder().encode(s);

async function handshake(
  clientStream: ByteStream,
  serverStream: ByteStream,
  opts: { suites?: number[]; verify?: (chain: Uint8Array[]) => boolean; clientIdentity?: TlsIdentity | null } = {},
): Promise<{ client: TlsConnection; server: TlsConnection; clientInfo: TlsHandshakeInfo; serverInfo: TlsHandshakeInfo }> {
  let clientInfo!: TlsHandshakeInfo;
  let serverInfo!: TlsHandshakeInfo;
  const [client, server] = await Promise.all([
    connectTls(clientStream, {
      identity: opts.clientIdentity === null ? undefined : (opts.clientIdentity ?? hostIdentity),
      cipherSuites: opts.suites,
      onHandshake: (i) => (clientInfo = i),
    }),
    acceptTls(serverStream, {
      identity: deviceIdentity,
      rsaPrivateKeyPkcs8: pkcs8Of(device),
      requestClientCertificate: true,
      verifyClientCertificate: opts.verify,
      onHandshake: (i) => (serverInfo = i),
    }),
  ]);
  return { client, server, clientInfo, serverInfo };
}

async function readAll(stream: ByteStream, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let filled = 0;
  while (filled < n) {
    const chunk = await stream.read();
    if (!chunk) throw new Error(`stream ended after ${filled} of ${n} bytes`);
    out.set(chunk, filled);
    filled += chunk.byteLength;
  }
  return out;
}

/** Resolves with the rejection of `p` (must be a TlsError); fails if it fulfils. */
async function tlsFailure(p: Promise<unknown>, label: string): Promise<TlsError> {
  const e = await withTimeout(
    p.then(
      () => assert.fail(`${label}: expected a TlsError`),
      (error: unknown) => error,
    ),
    5_000,
    label,
  );
  assert.ok(e instanceof TlsError, `${label}: ${String(e)}`);
  assert.equal(e.code, 'tls');
  return e;
}

for (const suite of SUITES) {
  test(`client ↔ server over a stream pair, suite 0x${suite.toString(16)}, then shutdown to plaintext`, { timeout: 20_000 }, async () => {
    const [a, b] = createStreamPair();
    const seen: Uint8Array[][] = [];
    const { client, server, clientInfo, serverInfo } = await withTimeout(
      handshake(a, b, { suites: [suite], verify: (chain) => (seen.push(chain), true) }),
      10_000,
      'handshake',
    );
    assert.equal(client.cipherSuite, suite);
    assert.equal(server.cipherSuite, suite);
    assert.equal(clientInfo.extendedMasterSecret, true);
    assert.equal(serverInfo.secureRenegotiation, true);
    assert.deepEqual(seen, [[host.certDer]]);
    assert.deepEqual(server.peerCertificates, [host.certDer]);
    assert.deepEqual(client.peerCertificates, [device.certDer]);

    // messages bigger than a record both ways
    const big = new Uint8Array(50_000).map((_, i) => i * 7);
    await Promise.all([client.write(big), server.write(text('pong'))]);
    assert.deepEqual(await readAll(server, big.byteLength), big);
    assert.deepEqual(await readAll(client, 4), text('pong'));

    // lockdown StopSession: close_notify both ways, then plaintext on the same stream
    const clientRawPromise = client.shutdown();
    assert.equal(await server.read(), null);
    const serverRaw = await server.shutdown();
    const clientRaw = await clientRawPromise;
    await clientRaw.write(text('plain from host'));
    assert.deepEqual(await readAll(serverRaw, 15), text('plain from host'));
    await serverRaw.write(text('plain from device'));
    assert.deepEqual(await readAll(clientRaw, 17), text('plain from device'));
    await clientRaw.close();
  });
}

test('root certificate as client identity (libimobiledevice style) is accepted', { timeout: 20_000 }, async () => {
  const [a, b] = createStreamPair();
  const rootIdentity = await tlsIdentity(root);
  const { server } = await withTimeout(handshake(a, b, { clientIdentity: rootIdentity }), 10_000, 'handshake');
  assert.deepEqual(server.peerCertificates, [root.certDer]);
  await a.close();
});

test('verifyClientCertificate returning false fails both sides without hanging', { timeout: 20_000 }, async () => {
  const [a, b] = createStreamPair();
  const client = connectTls(a, { identity: hostIdentity });
  const server = acceptTls(b, { identity: deviceIdentity, requestClientCertificate: true, verifyClientCertificate: () => false });
  const [serverError, clientError] = await Promise.all([tlsFailure(server, 'server'), tlsFailure(client, 'client')]);
  assert.equal(serverError.alert, 42);
  assert.equal(clientError.fromPeer, true);
  assert.equal(clientError.alert, 42);
  assert.match(clientError.message, /bad_certificate/);
});

test('server that requires a certificate vs a client without one: TlsError on both sides', { timeout: 20_000 }, async () => {
  const [a, b] = createStreamPair();
  const client = connectTls(a, {});
  const server = acceptTls(b, { identity: deviceIdentity, requestClientCertificate: true });
  const [serverError, clientError] = await Promise.all([tlsFailure(server, 'server'), tlsFailure(client, 'client')]);
  assert.equal(serverError.alert, 40);
  assert.match(serverError.message, /no certificate/);
  assert.equal(clientError.fromPeer, true);
});

test('client with a key that is not RSASSA-PKCS1-v1_5 fails cleanly on both sides', { timeout: 20_000 }, async () => {
  const [a, b] = createStreamPair();
  const pkcs8 = pkcs8Of(host);
  const pssKey = await crypto.subtle.importKey('pkcs8', pkcs8 as Uint8Array<ArrayBuffer>, { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
  const client = connectTls(a, { identity: { certificateChain: [host.certDer], privateKey: pssKey } });
  const server = acceptTls(b, { identity: deviceIdentity, requestClientCertificate: true });
  const [clientError] = await Promise.all([tlsFailure(client, 'client'), tlsFailure(server, 'server')]);
  assert.equal(clientError.alert, 80); // not an RSASSA-PKCS1-v1_5 key: our own configuration error
});

/** Wraps a stream so that `tamper` may alter each written chunk once armed. */
function tampering(inner: ByteStream): { stream: ByteStream; arm(flip: (d: Uint8Array) => void): void } {
  let flip: ((d: Uint8Array) => void) | undefined;
  return {
    stream: {
      read: () => inner.read(),
      write: (data) => {
        if (flip) {
          const copy = data.slice();
          flip(copy);
          flip = undefined;
          return inner.write(copy);
        }
        return inner.write(data);
      },
      close: () => inner.close(),
    },
    arm: (f) => (flip = f),
  };
}

for (const suite of [0xc02f, 0x002f]) {
  test(`a flipped byte in an application record → bad_record_mac (suite 0x${suite.toString(16)})`, { timeout: 20_000 }, async () => {
    const [a, b] = createStreamPair();
    const t = tampering(a);
    const { client, server } = await withTimeout(handshake(t.stream, b, { suites: [suite] }), 10_000, 'handshake');
    t.arm((d) => (d[d.byteLength - 3]! ^= 0x01));
    await client.write(text('secret payload that will be corrupted'));
    const serverError = await tlsFailure(server.read(), 'server read');
    assert.equal(serverError.alert, 20);
    assert.match(serverError.message, /bad_record_mac/);
    const clientError = await tlsFailure(client.read(), 'client read');
    assert.equal(clientError.fromPeer, true);
    assert.equal(clientError.alert, 20);
  });
}

/** Passes the first `limit` bytes written, then closes the stream (a peer vanishing mid-handshake). */
function cutAfter(inner: ByteStream, limit: number): ByteStream {
  let sent = 0;
  return {
    read: () => inner.read(),
    async write(data) {
      const room = limit - sent;
      if (room >= data.byteLength) {
        sent += data.byteLength;
        return inner.write(data);
      }
      if (room > 0) await inner.write(data.subarray(0, room));
      sent = limit;
      await inner.close();
      throw new Error('cut');
    },
    close: () => inner.close(),
  };
}

/** How many bytes our server (or client) writes in a complete handshake with `suite`. */
async function handshakeBytes(suite: number, side: 'server' | 'client'): Promise<number> {
  const [a, b] = createStreamPair();
  let count = 0;
  const inner = side === 'server' ? b : a;
  const counting: ByteStream = { read: () => inner.read(), write: (d) => ((count += d.byteLength), inner.write(d)), close: () => inner.close() };
  await (side === 'server' ? handshake(a, counting, { suites: [suite] }) : handshake(counting, b, { suites: [suite] }));
  await a.close();
  return count;
}

test('a handshake truncated at many points fails quickly on both sides', { timeout: 60_000 }, async () => {
  // server→client cut points: inside the record header, inside ServerHello, inside the certificate,
  // inside ServerKeyExchange, before the Finished flight…
  for (const suite of [0xc02f, 0x009c]) {
    const total = await handshakeBytes(suite, 'server');
    // …and inside the server's final ChangeCipherSpec/Finished flight (the last 51 bytes)
    const cuts = [0, 3, 5, 40, 90, 400, 700, 1200].filter((c) => c < total - 60).concat([total - 51, total - 45, total - 1]);
    for (const cut of cuts) {
      const [a, b] = createStreamPair();
      const started = Date.now();
      const client = connectTls(a, { identity: hostIdentity, cipherSuites: [suite] });
      const server = acceptTls(cutAfter(b, cut), { identity: deviceIdentity, rsaPrivateKeyPkcs8: pkcs8Of(device), requestClientCertificate: true });
      await Promise.all([tlsFailure(client, `client, server cut at ${cut}`), tlsFailure(server, `server, server cut at ${cut}`)]);
      assert.ok(Date.now() - started < 3_000, `cut at ${cut} took ${Date.now() - started} ms`);
    }
    // client→server cut points: inside ClientHello, inside the client's Certificate, before Finished
    const clientTotal = await handshakeBytes(suite, 'client');
    for (const cut of [2, 60, 150, 600, clientTotal - 51, clientTotal - 1]) {
      const [a, b] = createStreamPair();
      const client = connectTls(cutAfter(a, cut), { identity: hostIdentity, cipherSuites: [suite] });
      const server = acceptTls(b, { identity: deviceIdentity, rsaPrivateKeyPkcs8: pkcs8Of(device), requestClientCertificate: true });
      await Promise.all([tlsFailure(server, `server, client cut at ${cut}`), tlsFailure(client, `client, client cut at ${cut}`)]);
    }
  }
});

test('oversized, foreign and wrong-version records are rejected with the right alert', { timeout: 20_000 }, async () => {
  const cases: [string, Uint8Array, number][] = [
    ['record longer than 2^14', new Uint8Array([22, 3, 3, 0x40, 0x01]), 22],
    ['unknown content type', new Uint8Array([99, 3, 3, 0, 1, 0]), 10],
    ['SSL 2 / garbage version', new Uint8Array([22, 2, 0, 0, 1, 0]), 70],
    // a TLS 1.0-only ClientHello (client_version 0x0301)
    ['TLS 1.0 ClientHello', new Uint8Array([22, 3, 1, 0, 45, 1, 0, 0, 41, 3, 1, ...new Array(32).fill(7), 0, 0, 2, 0, 0x2f, 1, 0]), 70],
    ['application data before the handshake', new Uint8Array([23, 3, 3, 0, 1, 0]), 10],
  ];
  for (const [label, bytes, alert] of cases) {
    const [a, b] = createStreamPair();
    const server = acceptTls(b, { identity: deviceIdentity });
    await a.write(bytes);
    const error = await tlsFailure(server, label);
    assert.equal(error.alert, alert, label);
    const reply = await a.read(); // the alert we were sent
    assert.deepEqual(reply && [...reply.subarray(0, 1), ...reply.subarray(5, 7)], [21, 2, alert], label);
  }
});

test('64 MiB of application data client → server with a hash check', { timeout: 60_000 }, async () => {
  const [a, b] = createStreamPair(4 << 20);
  const { client, server } = await withTimeout(handshake(a, b, { suites: [0xc02f] }), 10_000, 'handshake');
  const total = 64 << 20;
  const chunk = new Uint8Array(1 << 20);
  const sent = createHash('sha256');
  const received = createHash('sha256');
  const writer = (async () => {
    for (let i = 0; i < total / chunk.byteLength; i++) {
      crypto.getRandomValues(chunk.subarray(0, 65536));
      chunk.copyWithin(65536, 0, chunk.byteLength - 65536);
      chunk[0] = i;
      sent.update(chunk);
      await client.write(chunk);
    }
    await client.close();
  })();
  let count = 0;
  for (;;) {
    const data = await server.read();
    if (data === null) break;
    received.update(data);
    count += data.byteLength;
  }
  await writer;
  assert.equal(count, total);
  assert.equal(received.digest('hex'), sent.digest('hex'));
});
