import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { concatBytes } from '../../src/core/bytes.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { Alert, TlsError, acceptTls, certificatesFromPem, connectTls, importRsaPrivateKeyPem, rsaPrivateKeyPemToPkcs8, type TlsIdentity } from '../../src/tls/index.ts';
import { RecordLayer } from '../../src/tls/record-layer.ts';
import { createRecordProtection, type RecordProtection } from '../../src/tls/record-protection.ts';
import { cipherSuiteById } from '../../src/tls/cipher-suites.ts';
import { HandshakeIO } from '../../src/tls/handshake-io.ts';
import { ReplayStream } from '../streams.ts';
import type { Rng } from '../rng.ts';
import type { FuzzTarget } from '../target.ts';

interface Identity {
  tls: TlsIdentity;
  pkcs8: Uint8Array;
}

/** RSA-1024 keeps the server's per-handshake signature cheap; the parsers do not care about key size. */
function makeIdentity(name: string): Promise<Identity> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-fuzz-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-sha256', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '30', '-subj', `/CN=${name}`], { stdio: 'ignore' });
    const keyPem = readFileSync(join(dir, 'k.pem'), 'utf8');
    const certPem = readFileSync(join(dir, 'c.pem'), 'utf8');
    return importRsaPrivateKeyPem(keyPem).then((privateKey) => ({ tls: { certificateChain: certificatesFromPem(certPem), privateKey }, pkcs8: rsaPrivateKeyPemToPkcs8(keyPem) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let identities: Promise<{ server: Identity; client: Identity }> | undefined;
function getIdentities() {
  identities ??= (async () => ({ server: await makeIdentity('device'), client: await makeIdentity('host') }))();
  return identities;
}

/** Everything one end wrote, for replaying to the other end later. */
function recording(stream: ByteStream, into: Uint8Array[]): ByteStream {
  return {
    read: () => stream.read(),
    write: (data) => {
      into.push(data.slice());
      return stream.write(data);
    },
    close: () => stream.close(),
  };
}

interface Transcript {
  client: Uint8Array;
  server: Uint8Array;
}

/** A real handshake between our client and server, both directions recorded. */
async function handshakeTranscript(serverSuites: number[] | undefined, clientCertificate: boolean): Promise<Transcript> {
  const { server, client } = await getIdentities();
  const [a, b] = createStreamPair();
  const fromClient: Uint8Array[] = [];
  const fromServer: Uint8Array[] = [];
  const [c, s] = await Promise.all([
    connectTls(recording(a, fromClient), { identity: clientCertificate ? client.tls : undefined }),
    acceptTls(recording(b, fromServer), {
      identity: server.tls,
      rsaPrivateKeyPkcs8: server.pkcs8,
      cipherSuites: serverSuites,
      requestClientCertificate: clientCertificate,
    }),
  ]);
  await c.write(new TextEncoder().encode('hello from the host'));
  await s.write(new TextEncoder().encode('hello from the device'));
  await Promise.all([c.read(), s.read()]);
  await Promise.all([c.close(), s.close()]);
  return { client: concatBytes(fromClient), server: concatBytes(fromServer) };
}

let transcripts: Promise<Transcript[]> | undefined;
function allTranscripts(): Promise<Transcript[]> {
  transcripts ??= Promise.all([
    handshakeTranscript(undefined, false),
    handshakeTranscript(undefined, true),
    handshakeTranscript([0x009c], false),
    handshakeTranscript([0x002f], true),
    handshakeTranscript([0xc030], false),
  ]);
  return transcripts;
}

/**
 * A TLS failure must be a TlsError, and one whose cause is a parser bug (a TypeError or RangeError
 * wrapped as internal_error by the handshake's catch-all) still counts as a finding.
 */
function expectedTlsError(error: unknown): boolean {
  if (!(error instanceof TlsError)) return false;
  if (error.alert === Alert.internalError && error.cause instanceof Error && !(error.cause instanceof TlsError) && error.cause.name !== 'DataError' && error.cause.name !== 'OperationError') {
    return false;
  }
  return true;
}

/** A record header with a right length around random handshake-ish content. */
function record(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type;
  out[1] = 3;
  out[2] = 3;
  out[3] = body.length >> 8;
  out[4] = body.length & 0xff;
  out.set(body, 5);
  return out;
}

function handshakeMessage(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[0] = type;
  out[1] = body.length >> 16;
  out[2] = (body.length >> 8) & 0xff;
  out[3] = body.length & 0xff;
  out.set(body, 4);
  return out;
}

/**
 * Re-frames a mutated flight: walk the records, recompute each record length from what is there,
 * so mutations inside handshake bodies reach the handshake parsers instead of the record check.
 */
function refreshRecordLengths(input: Uint8Array, rng: Rng): Uint8Array {
  const out = input.slice();
  let at = 0;
  while (at + 5 <= out.length) {
    const declared = (out[at + 3]! << 8) | out[at + 4]!;
    const available = out.length - at - 5;
    if (declared > available || rng.chance(0.1)) {
      const n = Math.min(available, 16384);
      out[at + 3] = n >> 8;
      out[at + 4] = n & 0xff;
      at += 5 + n;
    } else at += 5 + declared;
  }
  return out;
}

/** Random handshake messages of the types a peer sends, in records (sometimes split across two). */
function randomFlight(rng: Rng, types: number[]): Uint8Array {
  const pieces: Uint8Array[] = [];
  const n = 1 + rng.below(4);
  for (let i = 0; i < n; i++) {
    const message = handshakeMessage(rng.pick(types), rng.bytes(rng.size(300)));
    if (rng.chance(0.2) && message.length > 2) {
      const cut = 1 + rng.below(message.length - 1);
      pieces.push(record(22, message.subarray(0, cut)), record(22, message.subarray(cut)));
    } else pieces.push(record(22, message));
  }
  if (rng.chance(0.2)) pieces.push(record(rng.pick([20, 21, 23, 99]), rng.bytes(rng.size(8))));
  return concatBytes(pieces);
}

export const tlsRecords: FuzzTarget = {
  name: 'tls-records',
  async seeds() {
    return (await allTranscripts()).flatMap((t) => [t.client, t.server]);
  },
  generate: (rng) => randomFlight(rng, [1, 2, 11, 12, 13, 14, 15, 16, 20]),
  fixUp: refreshRecordLengths,
  async run(input) {
    // The plaintext record layer and handshake-message reassembly (what both ends parse first).
    const io = new HandshakeIO(new RecordLayer(new ReplayStream(input)));
    for (let i = 0; i < 64; i++) await io.next(0, 1, 2, 4, 11, 12, 13, 14, 15, 16, 20);
  },
  expected: (e) => e instanceof TlsError || (e instanceof Error && e.constructor.name === 'ProtocolError'),
};

export const tlsClient: FuzzTarget = {
  name: 'tls-client',
  async seeds() {
    return (await allTranscripts()).map((t) => t.server);
  },
  generate: (rng) => randomFlight(rng, [2, 11, 12, 13, 14]),
  fixUp: refreshRecordLengths,
  async run(input) {
    const { client } = await getIdentities();
    const connection = await connectTls(new ReplayStream(input), { identity: input.length % 2 === 0 ? client.tls : undefined });
    for (let chunk = await connection.read(); chunk !== null; chunk = await connection.read());
  },
  expected: expectedTlsError,
};

export const tlsServer: FuzzTarget = {
  name: 'tls-server',
  async seeds() {
    return (await allTranscripts()).map((t) => t.client);
  },
  generate: (rng) => randomFlight(rng, [1, 11, 15, 16]),
  fixUp: refreshRecordLengths,
  async run(input) {
    const { server } = await getIdentities();
    const connection = await acceptTls(new ReplayStream(input), {
      identity: server.tls,
      rsaPrivateKeyPkcs8: server.pkcs8,
      requestClientCertificate: input.length % 2 === 0,
    });
    for (let chunk = await connection.read(); chunk !== null; chunk = await connection.read());
  },
  expected: expectedTlsError,
};

const PROTECTED_SUITES = [0xc02f, 0xc030, 0x002f, 0x0035];
let protections: Promise<RecordProtection[]> | undefined;
function recordProtections(): Promise<RecordProtection[]> {
  protections ??= Promise.all(
    PROTECTED_SUITES.map((id) => {
      const suite = cipherSuiteById(id)!;
      return createRecordProtection(suite, { key: new Uint8Array(suite.keyLength).fill(7), macKey: new Uint8Array(20).fill(9), fixedIv: new Uint8Array(4).fill(3) });
    }),
  );
  return protections;
}

/**
 * Records after the handshake: the first byte picks a suite (AES-GCM or AES-CBC+HMAC, fixed keys),
 * the rest is a record body to open. Seeds are sealed records, so the length, nonce, padding and MAC
 * checks all see real shapes.
 */
export const tlsRecordProtection: FuzzTarget = {
  name: 'tls-record-protection',
  async seeds() {
    const all = await recordProtections();
    const seeds: Uint8Array[] = [];
    for (let i = 0; i < all.length; i++) {
      for (const size of [0, 1, 15, 16, 300, 16384]) {
        seeds.push(concatBytes([new Uint8Array([i]), ...(await all[i]!.seal(23, 0, new Uint8Array(size).fill(0x61)))]));
      }
    }
    return seeds;
  },
  maxInput: 20 * 1024,
  async run(input) {
    const all = await recordProtections();
    const protection = all[(input[0] ?? 0) % all.length]!;
    const opened = await protection.open(23, 0, input.subarray(1));
    return `opened ${opened.length > 0}`;
  },
  expected: (e) => e instanceof TlsError,
};
