// Test-only helpers for the TLS tests: certificates from independent tools, a node:net bridge to
// our ByteStream, child-process servers with cleanup, and hard timeouts.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { type TlsIdentity, certificatesFromPem, importRsaPrivateKeyPem, rsaPrivateKeyPemToPkcs8 } from '../../src/tls/index.ts';

export interface PemIdentity {
  certFile: string;
  keyFile: string;
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** The same key as PKCS#1 "RSA PRIVATE KEY" PEM. */
  keyPkcs1Pem: string;
  certDer: Uint8Array;
}

export function makeTempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-tls-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function loadIdentity(dir: string, name: string): PemIdentity {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const keyPem = readFileSync(keyFile, 'utf8');
  const keyPkcs1Pem = execFileSync('openssl', ['rsa', '-in', keyFile, '-traditional'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const certPem = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, certPem, keyPem, keyPkcs1Pem, certDer: certificatesFromPem(certPem)[0]! };
}

/** A self-signed RSA-2048 certificate from `openssl req -x509`. */
export function opensslIdentity(dir: string, name: string, digest = 'sha256'): PemIdentity {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', `-${digest}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '30', '-subj', `/CN=${name}`],
    { stdio: 'ignore' },
  );
  return loadIdentity(dir, name);
}

/**
 * A pairing-style set as libimobiledevice/pymobiledevice3 emit (transport.md §4.4): root, host and
 * device certificates with empty subject and issuer, serial 1, signed by the root with `hash`.
 * Made with the openssl CLI, independently of our code.
 */
export function pairingIdentities(dir: string, hash: 'sha256' | 'sha1' = 'sha256'): { root: PemIdentity; host: PemIdentity; device: PemIdentity } {
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const p = (f: string) => join(dir, f);
  writeFileSync(p('root.ext'), 'basicConstraints=critical,CA:TRUE\n');
  writeFileSync(p('leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nsubjectKeyIdentifier=hash\n');
  for (const name of ['root', 'host', 'device']) {
    run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', p(`${name}.key`)]);
    run(['req', '-new', '-key', p(`${name}.key`), '-subj', '/', '-out', p(`${name}.csr`)]);
    const signer = name === 'root' ? ['-signkey', p('root.key')] : ['-CA', p('root.crt'), '-CAkey', p('root.key')];
    run(['x509', '-req', '-in', p(`${name}.csr`), ...signer, '-set_serial', '1', `-${hash}`, '-days', '3650', '-extfile', p(name === 'root' ? 'root.ext' : 'leaf.ext'), '-out', p(`${name}.crt`)]);
  }
  return { root: loadIdentity(dir, 'root'), host: loadIdentity(dir, 'host'), device: loadIdentity(dir, 'device') };
}

export async function tlsIdentity(id: PemIdentity, extraChain: PemIdentity[] = [], keyPem = id.keyPem): Promise<TlsIdentity> {
  return {
    certificateChain: [id.certDer, ...extraChain.map((c) => c.certDer)],
    privateKey: await importRsaPrivateKeyPem(keyPem),
  };
}

export function pkcs8Of(id: PemIdentity): Uint8Array {
  return rsaPrivateKeyPemToPkcs8(id.keyPem);
}

/** Our ByteStream over a node:net socket (test-only bridge). */
export function socketStream(socket: Socket): ByteStream {
  const queue: (Uint8Array | null)[] = [];
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  socket.on('data', (chunk: Buffer) => {
    queue.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (queue.length > 64) socket.pause();
    wake();
  });
  socket.on('end', () => {
    queue.push(null);
    wake();
  });
  socket.on('close', () => {
    queue.push(null);
    wake();
  });
  socket.on('error', () => undefined);
  let ended = false;
  return {
    async read() {
      while (queue.length === 0) await new Promise<void>((r) => (waiter = r));
      const next = queue.shift()!;
      if (next === null) {
        ended = true;
        queue.unshift(null);
        return null;
      }
      if (queue.length < 16) socket.resume();
      return ended ? null : next;
    },
    write(data) {
      return new Promise<void>((resolve, reject) => {
        if (socket.destroyed || socket.writableEnded) return reject(new Error('socket closed'));
        socket.write(data, (error) => (error ? reject(error) : resolve()));
      });
    },
    async close() {
      socket.destroy();
    },
  };
}

export function connectTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface ServerProcess {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns a server tool and waits until its output matches `ready` (probing the port would use up an accept). */
export async function spawnServer(command: string, args: string[], ready: RegExp, env?: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
  let out = '';
  let notify: (() => void) | undefined;
  const onData = (d: Buffer) => {
    out += d.toString();
    notify?.();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        notify = () => (ready.test(out) ? resolve() : undefined);
        child.once('exit', () => reject(new Error(`${command} exited early: ${out}`)));
        notify();
      }),
      10_000,
      `${command} start`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, output: () => out, stop };
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads from `stream` until `predicate(accumulated)` holds or the stream ends. */
export async function readUntil(stream: ByteStream, predicate: (text: string) => boolean): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  while (!predicate(text)) {
    const chunk = await stream.read();
    if (chunk === null) break;
    text += decoder.decode(chunk, { stream: true });
  }
  return text;
}
