import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type { ByteStream } from '../../../core/byte-stream.ts';
import { ProtocolError } from '../../../core/errors.ts';
import type { ClientCertificateCheck, DeviceTlsAcceptor, DeviceTlsIdentity, DeviceTlsPolicy, DeviceTlsSession } from '../session-tls.ts';

/** A node Duplex over a ByteStream. Ending or destroying it never closes the ByteStream itself. */
class ByteStreamDuplex extends Duplex {
  private reading = false;

  constructor(private readonly inner: ByteStream) {
    super();
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.inner.read();
        if (chunk === null) {
          this.push(null);
          return;
        }
        if (!this.push(chunk)) return;
      }
    } catch (error) {
      this.destroy(error as Error);
    } finally {
      this.reading = false;
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.inner.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
  }
}

/** Reads decrypted data from a TLSSocket as a ByteStream. */
class TlsSocketByteStream implements ByteStream {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private waiter: (() => void) | undefined;

  constructor(private readonly socket: tls.TLSSocket) {
    socket.on('data', (data: Buffer) => {
      this.chunks.push(new Uint8Array(data));
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  get peerClosed(): boolean {
    return this.ended;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async read(): Promise<Uint8Array | null> {
    while (this.chunks.length === 0) {
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return this.chunks.shift()!;
  }

  write(data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed || !this.socket.writable) {
        reject(new ProtocolError('lockdown TLS', 'session closed'));
        return;
      }
      this.socket.write(data, (error) => (error ? reject(error) : resolve()));
    });
  }

  async close(): Promise<void> {
    this.socket.destroy();
  }

  waitForEnd(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ended) resolve();
      else {
        this.socket.once('end', () => resolve());
        this.socket.once('close', () => resolve());
      }
    });
  }
}

/** Waits for `promise`, but no longer than `ms` (a peer that never answers must not hang the device). */
async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

const pem = (label: string, der: Uint8Array): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;

/** Device side of lockdown TLS on OpenSSL, capped at TLS 1.2 like a real iPhone. */
export const nodeTlsAcceptor: DeviceTlsAcceptor = {
  async accept(stream: ByteStream, identity: DeviceTlsIdentity, checkClient: ClientCertificateCheck, policy: DeviceTlsPolicy = {}): Promise<DeviceTlsSession> {
    const duplex = new ByteStreamDuplex(stream);
    const secureContext = tls.createSecureContext({
      key: pem('PRIVATE KEY', identity.privateKeyPkcs8),
      cert: pem('CERTIFICATE', identity.certificateDer),
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      // Hosts sign their certificates with SHA-1 (libimobiledevice) and keys can be old; iOS accepts both.
      ciphers: policy.ciphers ? `${policy.ciphers}:@SECLEVEL=0` : 'DEFAULT:@SECLEVEL=0',
    });
    const socket = new tls.TLSSocket(duplex, {
      isServer: true,
      secureContext,
      requestCert: true,
      rejectUnauthorized: false,
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (error: unknown): void => {
        socket.destroy();
        reject(new ProtocolError('lockdown TLS', `handshake failed: ${error instanceof Error ? error.message : String(error)}`));
      };
      socket.once('secure', resolve);
      socket.once('error', fail);
      socket.once('close', () => fail(new Error('connection closed during handshake')));
    });
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    const peer = socket.getPeerCertificate(true);
    const chain: Uint8Array[] = [];
    for (let cert = peer; cert && cert.raw; cert = cert.issuerCertificate) {
      chain.push(new Uint8Array(cert.raw));
      if (cert.issuerCertificate === cert) break;
    }
    if (!(await checkClient(chain))) {
      socket.destroy();
      throw new ProtocolError('lockdown TLS', 'the client certificate does not belong to a paired host');
    }
    const plain = new TlsSocketByteStream(socket);
    return {
      stream: plain,
      async stop() {
        // The host sends close_notify first (libimobiledevice waits for ours); answer it, then let go.
        await withTimeout(plain.waitForEnd(), 2000);
        await withTimeout(
          new Promise<void>((resolve) => {
            if (socket.destroyed) resolve();
            else socket.end(() => resolve());
          }),
          500,
        );
        socket.destroy();
      },
    };
  },
};
