import type { ByteStream } from '../core/byte-stream.ts';
import { Alert, TlsError, fatal } from './errors.ts';
import { HandshakeType } from './handshake-io.ts';
import { ContentType, type RecordLayer, type TlsRecord, peerAlertError } from './record-layer.ts';

export interface TlsConnection extends ByteStream {
  readonly cipherSuite: number;
  readonly peerCertificates: Uint8Array[];
  /**
   * Sends close_notify, reads the peer's close_notify (or accepts EOF) and hands back the raw
   * stream for plaintext use (lockdown StopSession). Don't call it while a read() is pending.
   */
  shutdown(): Promise<ByteStream>;
}

/** Application-data phase of an established session. */
export class TlsSession implements TlsConnection {
  private readonly queue: Uint8Array[] = [];
  private peerClosed = false;
  private closeSent = false;
  private closed = false;
  private failure: TlsError | undefined;

  constructor(
    private readonly records: RecordLayer,
    readonly cipherSuite: number,
    readonly peerCertificates: Uint8Array[],
  ) {}

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const next = this.queue.shift();
      if (next) return next;
      if (this.failure) throw this.failure;
      if (this.peerClosed || this.closed) return null;
      await this.pump();
    }
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closeSent || this.closed) throw new TlsError('TLS: write after the session was closed');
    if (data.byteLength === 0) return;
    try {
      await this.records.write(ContentType.applicationData, data);
    } catch (error) {
      throw this.fail(error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.closeSent && !this.failure) {
      this.closeSent = true;
      await this.records.sendAlert(1, Alert.closeNotify, true).catch(() => undefined);
    }
    await this.records.stream.close();
  }

  async shutdown(): Promise<ByteStream> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new TlsError('TLS: shutdown after the session was closed');
    if (!this.closeSent) {
      this.closeSent = true;
      await this.records.sendAlert(1, Alert.closeNotify).catch((error: unknown) => {
        throw this.fail(error);
      });
    }
    // application data still in flight from the peer is dropped: the caller asked to stop
    while (!this.peerClosed) {
      const got = await this.pumpOrEnd();
      if (!got) break;
      this.queue.length = 0;
    }
    this.closed = true;
    return new RawStreamAfterTls(this.records.stream, this.records.takeUnread());
  }

  /** Reads a batch of records; false at EOF. */
  private async pumpOrEnd(): Promise<boolean> {
    let batch: TlsRecord[] | null;
    try {
      batch = await this.records.readRecords((r) => r.type === ContentType.alert && r.fragment[1] === Alert.closeNotify);
    } catch (error) {
      throw await this.failAndAlert(error);
    }
    if (!batch) {
      // the device may close without close_notify: treat EOF as a normal close
      this.peerClosed = true;
      return false;
    }
    for (const record of batch) await this.handle(record);
    return true;
  }

  private async pump(): Promise<void> {
    await this.pumpOrEnd();
  }

  private async handle(record: TlsRecord): Promise<void> {
    const f = record.fragment;
    switch (record.type) {
      case ContentType.applicationData:
        if (f.byteLength) this.queue.push(f);
        return;
      case ContentType.alert:
        if (f.byteLength !== 2) throw await this.failAndAlert(fatal(Alert.decodeError, 'malformed alert'));
        if (f[1] === Alert.closeNotify) {
          this.peerClosed = true;
          return;
        }
        if (f[0] === 2) {
          this.failure = peerAlertError(2, f[1]!);
          await this.records.stream.close().catch(() => undefined);
          throw this.failure;
        }
        return; // warnings (no_renegotiation, user_canceled) carry on
      case ContentType.handshake:
        // RFC 5746 without renegotiation: answer HelloRequest (or a ClientHello) with no_renegotiation
        if ((f[0] === HandshakeType.helloRequest && f.byteLength === 4) || f[0] === HandshakeType.clientHello) {
          await this.records.sendAlert(1, Alert.noRenegotiation).catch(() => undefined);
          return;
        }
        throw await this.failAndAlert(fatal(Alert.unexpectedMessage, `unexpected handshake message ${f[0]} after the handshake`));
      default:
        throw await this.failAndAlert(fatal(Alert.unexpectedMessage, 'ChangeCipherSpec after the handshake'));
    }
  }

  private fail(error: unknown): TlsError {
    this.failure ??= error instanceof TlsError ? error : new TlsError('TLS: the connection failed', { cause: error });
    return this.failure;
  }

  private async failAndAlert(error: unknown): Promise<TlsError> {
    const failure = this.fail(error);
    if (failure.alert !== undefined && !failure.fromPeer) await this.records.sendAlert(2, failure.alert).catch(() => undefined);
    await this.records.stream.close().catch(() => undefined);
    return failure;
  }
}

/** The raw stream after TLS: first whatever the record layer had buffered past the close_notify. */
class RawStreamAfterTls implements ByteStream {
  constructor(
    private readonly stream: ByteStream,
    private leftover: Uint8Array | undefined,
  ) {
    if (leftover?.byteLength === 0) this.leftover = undefined;
  }

  read(): Promise<Uint8Array | null> {
    const first = this.leftover;
    if (first) {
      this.leftover = undefined;
      return Promise.resolve(first);
    }
    return this.stream.read();
  }

  write(data: Uint8Array): Promise<void> {
    return this.stream.write(data);
  }

  close(): Promise<void> {
    return this.stream.close();
  }
}
