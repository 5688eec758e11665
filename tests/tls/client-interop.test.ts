// Our TLS client against independent servers: OpenSSL s_server (each suite, with and without
// extended master secret), GnuTLS gnutls-serv, a TLS 1.3-only server, and Node's TLS server as a
// stand-in for a device (pairing-style certificates, PKCS#1 key).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { type TlsHandshakeInfo, TlsError, connectTls, importRsaPrivateKeyPem } from '../../src/tls/index.ts';
import {
  type PemIdentity,
  connectTcp,
  freePort,
  makeTempDir,
  opensslIdentity,
  pairingIdentities,
  readUntil,
  socketStream,
  spawnServer,
  tlsIdentity,
  withTimeout,
} from './helpers.ts';

const SUITES: [number, string][] = [
  [0xc02f, 'ECDHE-RSA-AES128-GCM-SHA256'],
  [0xc030, 'ECDHE-RSA-AES256-GCM-SHA384'],
  [0x009c, 'AES128-GCM-SHA256'],
  [0x009d, 'AES256-GCM-SHA384'],
  [0x002f, 'AES128-SHA'],
  [0x0035, 'AES256-SHA'],
];

let temp: ReturnType<typeof makeTempDir>;
let server: PemIdentity;
let client: PemIdentity;
let noEmsConf: string;

before(() => {
  temp = makeTempDir();
  server = opensslIdentity(temp.dir, 'server');
  client = opensslIdentity(temp.dir, 'client');
  noEmsConf = join(temp.dir, 'no-ems.cnf');
  // OpenSSL 3.0's s_server has no -no_ems flag; the SSL_CONF option turns EMS off.
  writeFileSync(
    noEmsConf,
    'openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\nOptions = -ExtendedMasterSecret\n',
  );
});
after(() => temp.cleanup());

async function roundTripWithOpenssl(suite: number, cipher: string, ems: boolean): Promise<void> {
  const port = await freePort();
  const env = ems ? process.env : { ...process.env, OPENSSL_CONF: noEmsConf };
  const proc = await spawnServer(
    'openssl',
    ['s_server', '-tls1_2', '-Verify', '1', '-cipher', cipher, '-accept', `127.0.0.1:${port}`, '-cert', server.certFile, '-key', server.keyFile, '-rev', '-naccept', '1'],
    /ACCEPT/,
    env,
  );
  try {
    let info: TlsHandshakeInfo | undefined;
    const tls = await withTimeout(
      connectTls(socketStream(await connectTcp(port)), { identity: await tlsIdentity(client), onHandshake: (i) => (info = i) }),
      10_000,
      'handshake',
    );
    assert.equal(tls.cipherSuite, suite);
    assert.equal(info?.extendedMasterSecret, ems);
    assert.equal(info?.secureRenegotiation, true);
    assert.equal(info?.clientCertificateSent, true);
    assert.deepEqual(tls.peerCertificates[0], server.certDer);
    // -rev reverses each read separately, so stay within one record here (gnutls below goes bigger)
    const line = 'lifeboat over ' + cipher;
    await tls.write(new TextEncoder().encode(line + '\n'));
    const echoed = await withTimeout(readUntil(tls, (s) => s.includes('\n')), 10_000, 'echo');
    assert.equal(echoed, [...line].reverse().join('') + '\n');
    await tls.close();
    await withTimeout(new Promise<void>((r) => (proc.child.exitCode !== null ? r() : proc.child.once('exit', () => r()))), 5_000, 's_server exit');
    // s_server saw our client certificate and the suite we expected
    assert.match(proc.output(), /Peer certificate: CN = client/);
    assert.match(proc.output(), new RegExp(`Ciphersuite: ${cipher}\\b`));
  } finally {
    await proc.stop();
  }
}

for (const [suite, cipher] of SUITES) {
  for (const ems of [true, false]) {
    test(`client ↔ openssl s_server: ${cipher}${ems ? '' : ' without EMS'}`, { timeout: 20_000 }, () => roundTripWithOpenssl(suite, cipher, ems));
  }
}

for (const ems of [true, false]) {
  test(`client ↔ gnutls-serv with required client cert${ems ? '' : ' without EMS'}`, { timeout: 20_000 }, async () => {
    const port = await freePort();
    const priority = `NORMAL:-VERS-ALL:+VERS-TLS1.2${ems ? '' : ':%NO_SESSION_HASH'}`;
    const proc = await spawnServer(
      'gnutls-serv',
      ['--echo', '-p', String(port), '--x509certfile', server.certFile, '--x509keyfile', server.keyFile, '--require-client-cert', '--priority', priority],
      /IPv4 .*\.\.\.done/,
    );
    try {
      let info: TlsHandshakeInfo | undefined;
      const tls = await withTimeout(
        connectTls(socketStream(await connectTcp(port)), { identity: await tlsIdentity(client), onHandshake: (i) => (info = i) }),
        10_000,
        'handshake',
      );
      assert.equal(info?.extendedMasterSecret, ems);
      assert.equal(info?.clientCertificateSent, true);
      // bigger than one record: exercises fragmentation and reassembly on both sides
      const message = 'hello gnutls ' + 'y'.repeat(40_000) + '\n';
      await tls.write(new TextEncoder().encode(message));
      const echoed = await withTimeout(readUntil(tls, (s) => s.length >= message.length), 10_000, 'echo');
      assert.ok(echoed === message, `echo differs (${echoed.length} vs ${message.length} chars)`);
      await tls.close();
    } finally {
      await proc.stop();
    }
  });
}

test('client → TLS 1.3-only server fails with protocol_version', { timeout: 20_000 }, async () => {
  const port = await freePort();
  const proc = await spawnServer(
    'openssl',
    ['s_server', '-tls1_3', '-accept', `127.0.0.1:${port}`, '-cert', server.certFile, '-key', server.keyFile, '-naccept', '1'],
    /ACCEPT/,
  );
  try {
    const error = await withTimeout(
      connectTls(socketStream(await connectTcp(port)), { identity: await tlsIdentity(client) }).then(
        () => assert.fail('handshake succeeded'),
        (e: unknown) => e,
      ),
      10_000,
      'handshake',
    );
    assert.ok(error instanceof TlsError);
    assert.equal(error.code, 'tls');
    assert.equal(error.alert, 70);
    assert.match(error.message, /protocol_version/);
  } finally {
    await proc.stop();
  }
});

test('client ↔ Node TLS server as device stand-in (pairing certs, PKCS#1 key)', { timeout: 20_000 }, async () => {
  const pairing = pairingIdentities(temp.dir);
  let serverSawCert: Buffer | undefined;
  const nodeServer = createTlsServer(
    {
      cert: pairing.device.certPem,
      key: pairing.device.keyPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
    },
    (socket: TLSSocket) => {
      serverSawCert = socket.getPeerCertificate().raw;
      socket.pipe(socket); // echo
    },
  );
  await new Promise<void>((r) => nodeServer.listen(0, '127.0.0.1', r));
  try {
    const port = (nodeServer.address() as AddressInfo).port;
    assert.match(pairing.host.keyPkcs1Pem, /BEGIN RSA PRIVATE KEY/);
    const identity = {
      certificateChain: [pairing.host.certDer],
      privateKey: await importRsaPrivateKeyPem(pairing.host.keyPkcs1Pem),
    };
    const tls = await withTimeout(connectTls(socketStream(await connectTcp(port)), { identity }), 10_000, 'handshake');
    assert.equal(tls.cipherSuite, 0xc02f);
    assert.deepEqual(tls.peerCertificates[0], pairing.device.certDer);
    await tls.write(new TextEncoder().encode('ping'));
    assert.equal(await withTimeout(readUntil(tls, (s) => s.length >= 4), 5_000, 'echo'), 'ping');
    assert.ok(serverSawCert);
    assert.deepEqual(new Uint8Array(serverSawCert), pairing.host.certDer);
    await tls.close();
  } finally {
    await new Promise<void>((r) => {
      nodeServer.close(() => r());
    });
  }
});

test('client offering only RSA suites to an ECDHE-only server gets a clear TlsError', { timeout: 20_000 }, async () => {
  const port = await freePort();
  const proc = await spawnServer(
    'openssl',
    ['s_server', '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256', '-accept', `127.0.0.1:${port}`, '-cert', server.certFile, '-key', server.keyFile, '-naccept', '1'],
    /ACCEPT/,
  );
  try {
    const error = await withTimeout(
      connectTls(socketStream(await connectTcp(port)), { cipherSuites: [0x009c] }).then(
        () => assert.fail('handshake succeeded'),
        (e: unknown) => e,
      ),
      10_000,
      'handshake',
    );
    assert.ok(error instanceof TlsError);
    assert.equal(error.fromPeer, true);
    assert.equal(error.alert, 40);
  } finally {
    await proc.stop();
  }
});

