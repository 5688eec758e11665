import { concat } from './bytes.ts';
import { Alert, TlsError, fatal } from './errors.ts';
import type { HashName } from './prf.ts';
import { digest } from './prf.ts';
import { ContentType, type RecordLayer, peerAlertError } from './record-layer.ts';

export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
} as const;

/** Generous bound on one handshake message (certificate chains), so a bad length can't exhaust memory. */
const MAX_HANDSHAKE_MESSAGE = 1 << 18;

export interface HandshakeMessage {
  type: number;
  body: Uint8Array;
}

/**
 * Handshake messages over the record layer: reassembles messages split across records or packed
 * several to a record, keeps the transcript, and turns alerts and EOF into TlsErrors.
 */
export class HandshakeIO {
  private pending: Uint8Array = new Uint8Array(0);
  private readonly transcript: Uint8Array[] = [];

  constructor(readonly records: RecordLayer) {}

  /** The next handshake message, which must be one of `expected`. */
  async next(...expected: number[]): Promise<HandshakeMessage> {
    for (;;) {
      const message = this.extract();
      if (message) {
        if (!expected.includes(message.type)) {
          throw fatal(Alert.unexpectedMessage, `unexpected handshake message ${message.type}`);
        }
        this.transcript.push(message.raw);
        return { type: message.type, body: message.body };
      }
      const record = await this.readRecord();
      if (record.type === ContentType.changeCipherSpec) {
        throw fatal(Alert.unexpectedMessage, 'ChangeCipherSpec arrived before the expected handshake message');
      }
      if (record.type === ContentType.applicationData) throw fatal(Alert.unexpectedMessage, 'application data during the handshake');
      this.pending = this.pending.byteLength ? concat([this.pending, record.fragment]) : record.fragment;
    }
  }

  async expectChangeCipherSpec(): Promise<void> {
    if (this.pending.byteLength) throw fatal(Alert.unexpectedMessage, 'ChangeCipherSpec in the middle of a handshake message');
    const record = await this.readRecord();
    if (record.type !== ContentType.changeCipherSpec) throw fatal(Alert.unexpectedMessage, 'expected ChangeCipherSpec');
    if (record.fragment.byteLength !== 1 || record.fragment[0] !== 1) throw fatal(Alert.decodeError, 'malformed ChangeCipherSpec');
  }

  /** Throws unless every received handshake byte has been consumed (flight boundaries). */
  assertNoPending(): void {
    if (this.pending.byteLength) throw fatal(Alert.unexpectedMessage, 'extra handshake data after the flight');
  }

  /** Queues a handshake message (added to the transcript); flush() sends the flight. */
  async send(type: number, body: Uint8Array): Promise<void> {
    const raw = new Uint8Array(4 + body.byteLength);
    raw[0] = type;
    raw[1] = body.byteLength >>> 16;
    raw[2] = body.byteLength >>> 8;
    raw[3] = body.byteLength;
    raw.set(body, 4);
    this.transcript.push(raw);
    await this.records.queue(ContentType.handshake, raw);
  }

  async sendChangeCipherSpec(): Promise<void> {
    await this.records.queue(ContentType.changeCipherSpec, new Uint8Array([1]));
  }

  flush(): Promise<void> {
    return this.records.flush();
  }

  transcriptBytes(): Uint8Array {
    return concat(this.transcript);
  }

  transcriptHash(hash: HashName): Promise<Uint8Array> {
    return digest(hash, this.transcriptBytes());
  }

  private extract(): { type: number; body: Uint8Array; raw: Uint8Array } | undefined {
    const p = this.pending;
    if (p.byteLength < 4) return undefined;
    const length = (p[1]! << 16) | (p[2]! << 8) | p[3]!;
    if (length > MAX_HANDSHAKE_MESSAGE) throw fatal(Alert.decodeError, `handshake message of ${length} bytes is too large`);
    if (p.byteLength < 4 + length) return undefined;
    const raw = p.subarray(0, 4 + length);
    this.pending = p.subarray(4 + length);
    return { type: p[0]!, body: raw.subarray(4), raw };
  }

  private async readRecord() {
    for (;;) {
      const record = await this.records.readRecord();
      if (!record) throw new TlsError('TLS: the peer closed the connection during the handshake');
      if (record.type !== ContentType.alert) return record;
      const f = record.fragment;
      if (f.byteLength !== 2) throw fatal(Alert.decodeError, 'malformed alert');
      if (f[0] === 2 || f[1] === Alert.closeNotify) throw peerAlertError(f[0]!, f[1]!);
      if (f[0] !== 1) throw fatal(Alert.illegalParameter, 'alert with an unknown level');
      // other warnings (e.g. unrecognized_name) don't stop a handshake
    }
  }
}
