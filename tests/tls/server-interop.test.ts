// Our TLS server against independent clients: OpenSSL s_client and Node's tls.connect, both with
// a client certificate, over ECDHE and RSA key exchange.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type TlsConnection, type TlsHandshakeInfo, acceptTls } from '../../src/tls/index.ts';
import { type PemIdentity, makeTempDir, opensslIdentity, pairingIdentities, pkcs8Of, readUntil, socketStream, tlsIdentity, withTimeout } from './helpers.ts';

let temp: ReturnType<typeof makeTempDir>;
let device: PemIdentity;
let host: PemIdentity;
let client: PemIdentity;

before(() => {
  temp = makeTempDir();
  const pairing = pairingIdentities(temp.dir, 'sha256');
  device = pairing.device;
  host = pairing.host;
  client = opensslIdentity(temp.dir, 'client');
});
after(() => temp.cleanup());

interface Accepted {
  tls: TlsConnection;
  info: TlsHandshakeInfo;
}

/** A TCP server running our TLS server: answers one line with "ack <line>" and closes. */
async function startOurServer(cipherSuites?: number[]): Promise<{ server: Server; port: number; accepted: Promise<Accepted> }> {
  const identity = await tlsIdentity(device);
  let resolveAccepted!: (a: Accepted) => void;
  let rejectAccepted!: (e: unknown) => void;
  const accepted = new Promise<Accepted>((res, rej) => ((resolveAccepted = res), (rejectAccepted = rej)));
  accepted.catch(() => undefined);
  const server = createServer((socket) => {
    let info!: TlsHandshakeInfo;
    acceptTls(socketStream(socket), {
      identity,
      rsaPrivateKeyPkcs8: pkcs8Of(device),
      requestClientCertificate: true,
      cipherSuites,
      onHandshake: (i) => (info = i),
    })
      .then(async (tls) => {
        resolveAccepted({ tls, info });
        const line = await readUntil(tls, (s) => s.includes('\n'));
        await tls.write(new TextEncoder().encode(`ack ${line}`));
        await tls.close();
      })
      .catch(rejectAccepted);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, accepted };
}

const closeServer = (server: Server) => new Promise<void>((r) => server.close(() => r()));

const OPENSSL_SUITES: [number, string][] = [
  [0xc02f, 'ECDHE-RSA-AES128-GCM-SHA256'],
  [0xc030, 'ECDHE-RSA-AES256-GCM-SHA384'],
  [0x009c, 'AES128-GCM-SHA256'],
  [0x009d, 'AES256-GCM-SHA384'],
  [0x002f, 'AES128-SHA'],
  [0x0035, 'AES256-SHA'],
];

for (const [suite, cipher] of OPENSSL_SUITES) {
  test(`server ↔ openssl s_client with client cert: ${cipher}`, { timeout: 20_000 }, async () => {
    const { server, port, accepted } = await startOurServer();
    try {
      const child = spawn('openssl', ['s_client', '-tls1_2', '-connect', `127.0.0.1:${port}`, '-cert', client.certFile, '-key', client.keyFile, '-cipher', cipher, '-quiet'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', () => undefined);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        const { tls, info } = await withTimeout(accepted, 10_000, 'accept');
        assert.equal(tls.cipherSuite, suite);
        assert.equal(info.extendedMasterSecret, true);
        assert.equal(info.secureRenegotiation, true);
        assert.deepEqual(tls.peerCertificates[0], client.certDer);
        child.stdin.write('hello from s_client\n');
        await withTimeout(exited, 10_000, 's_client exit');
        assert.match(out, /ack hello from s_client/);
      } finally {
        if (child.exitCode === null) child.kill();
        await exited;
      }
    } finally {
      await closeServer(server);
    }
  });
}

for (const [suite, ciphers] of [
  [0xc030, 'ECDHE-RSA-AES256-GCM-SHA384'],
  [0x009c, 'AES128-GCM-SHA256'],
] as const) {
  test(`server ↔ Node tls.connect with client cert: ${ciphers}`, { timeout: 20_000 }, async () => {
    const { server, port, accepted } = await startOurServer();
    try {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        cert: host.certPem,
        key: host.keyPem,
        ciphers,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        rejectUnauthorized: false,
      });
      socket.on('error', () => undefined);
      await withTimeout(new Promise<void>((r) => socket.once('secureConnect', () => r())), 10_000, 'connect');
      assert.equal(socket.getCipher().name, ciphers);
      assert.deepEqual(new Uint8Array(socket.getPeerCertificate().raw), device.certDer);
      const { tls } = await withTimeout(accepted, 10_000, 'accept');
      assert.equal(tls.cipherSuite, suite);
      assert.deepEqual(tls.peerCertificates[0], host.certDer);
      let reply = '';
      socket.on('data', (d: Buffer) => (reply += d.toString()));
      const ended = new Promise<void>((r) => socket.once('end', () => r()));
      socket.write('hello from node\n');
      await withTimeout(ended, 10_000, 'reply');
      assert.equal(reply, 'ack hello from node\n');
      socket.destroy();
    } finally {
      await closeServer(server);
    }
  });
}
