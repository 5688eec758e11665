import type { ByteStream } from '../core/byte-stream.ts';
import { Alert, TlsError, alertName, fatal } from './errors.ts';
import { MAX_CIPHERTEXT, MAX_PLAINTEXT, type RecordProtection } from './record-protection.ts';

export const ContentType = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;

export interface TlsRecord {
  type: number;
  fragment: Uint8Array;
}

/** Records sealed and written per stream write: big writes become few, large transport writes. */
const RECORDS_PER_WRITE = 64;
/** Records opened concurrently per read (WebCrypto runs them on worker threads). */
const RECORDS_PER_READ = 32;

interface RawRecord {
  type: number;
  body: Uint8Array;
  /** Where the record started in the read buffer, to hand back unread bytes after close_notify. */
  start: number;
}

/**
 * The TLS record layer over a ByteStream: framing, size limits, sequence numbers, protection,
 * fragmentation of writes and batching of reads. Knows nothing about handshake messages.
 */
export class RecordLayer {
  private buf: Uint8Array = new Uint8Array(0);
  private off = 0;
  /** The part of the last chunk after a record that straddled two chunks (see fill). */
  private next: Uint8Array | undefined;
  private eof = false;
  private readProtection: RecordProtection | undefined;
  private writeProtection: RecordProtection | undefined;
  private readSeq = 0;
  private writeSeq = 0;
  /** Until the version is agreed, the first records may carry 0x0301..0x0303 in their header. */
  private versionLocked = false;
  private pendingOut: Uint8Array[][] = [];
  private writeChain: Promise<void> = Promise.resolve();

  constructor(readonly stream: ByteStream) {}

  lockVersion(): void {
    this.versionLocked = true;
  }

  get readProtected(): boolean {
    return this.readProtection !== undefined;
  }

  setReadProtection(p: RecordProtection): void {
    this.readProtection = p;
    this.readSeq = 0;
  }

  setWriteProtection(p: RecordProtection): void {
    this.writeProtection = p;
    this.writeSeq = 0;
  }

  /** Bytes received but not consumed as records (plaintext that follows the peer's close_notify). */
  takeUnread(): Uint8Array {
    const head = this.buf.subarray(this.off);
    const next = this.next ?? new Uint8Array(0);
    const rest = new Uint8Array(head.byteLength + next.byteLength);
    rest.set(head);
    rest.set(next, head.byteLength);
    this.buf = new Uint8Array(0);
    this.off = 0;
    this.next = undefined;
    return rest;
  }

  // ---- reading ----

  /** One record, decrypted; null on clean EOF at a record boundary. */
  async readRecord(): Promise<TlsRecord | null> {
    const raw = await this.nextRaw();
    if (!raw) return null;
    return { type: raw.type, fragment: await this.open(raw, this.readSeq++) };
  }

  /**
   * At least one record, plus every further complete record already buffered (opened in parallel).
   * `stopAfter` sees each record in order; when it returns true, later records are put back unread.
   */
  async readRecords(stopAfter: (r: TlsRecord) => boolean): Promise<TlsRecord[] | null> {
    const first = await this.nextRaw();
    if (!first) return null;
    const raws = [first];
    while (raws.length < RECORDS_PER_READ) {
      const more = this.parseBuffered(true);
      if (!more) break;
      raws.push(more);
    }
    const seq0 = this.readSeq;
    const opened = raws.map((raw, i) => this.open(raw, seq0 + i));
    // don't leave rejections unobserved if we stop early
    for (const p of opened) p.catch(() => undefined);
    const out: TlsRecord[] = [];
    for (let i = 0; i < raws.length; i++) {
      const record = { type: raws[i]!.type, fragment: await opened[i]! };
      this.readSeq++;
      out.push(record);
      if (stopAfter(record)) {
        if (i + 1 < raws.length) this.off = raws[i + 1]!.start;
        break;
      }
    }
    return out;
  }

  private async open(raw: RawRecord, seq: number): Promise<Uint8Array> {
    if (!this.readProtection) return raw.body;
    const plain = await this.readProtection.open(raw.type, seq, raw.body);
    if (plain.byteLength === 0 && raw.type !== ContentType.applicationData) {
      throw fatal(Alert.unexpectedMessage, `empty ${raw.type === ContentType.alert ? 'alert' : 'handshake'} record`);
    }
    return plain;
  }

  private async nextRaw(): Promise<RawRecord | null> {
    for (;;) {
      const raw = this.parseBuffered(false);
      if (raw) return raw;
      if (!(await this.fill())) {
        if (this.off === this.buf.byteLength) return null;
        throw new TlsError('TLS: the connection closed in the middle of a record');
      }
    }
  }

  /**
   * The next complete record in the buffer, or undefined. In `lenient` mode (extra records of a
   * batch) a bad header just ends the batch; it is rejected when it comes up as the first record.
   */
  private parseBuffered(lenient: boolean): RawRecord | undefined {
    // Batches (lenient) stay within one buffer, so putting records back is a matter of `off`.
    if (!lenient && this.off === this.buf.byteLength && this.next) {
      this.buf = this.next;
      this.off = 0;
      this.next = undefined;
    }
    const available = this.buf.byteLength - this.off;
    if (available < 5) return undefined;
    const b = this.buf;
    const o = this.off;
    const type = b[o]!;
    const major = b[o + 1]!;
    const minor = b[o + 2]!;
    const length = (b[o + 3]! << 8) | b[o + 4]!;
    const problem = this.checkHeader(type, major, minor, length);
    if (problem) {
      if (lenient) return undefined;
      throw problem;
    }
    if (available < 5 + length) return undefined;
    this.off = o + 5 + length;
    return { type, body: b.subarray(o + 5, o + 5 + length), start: o };
  }

  private checkHeader(type: number, major: number, minor: number, length: number): TlsError | undefined {
    if (type < 20 || type > 23) return fatal(Alert.unexpectedMessage, `unknown record type ${type}`);
    const versionOk = this.versionLocked ? major === 3 && minor === 3 : major === 3 && minor <= 4;
    if (!versionOk) return fatal(Alert.protocolVersion, `record version ${major}.${minor} is not TLS 1.2`);
    const limit = this.readProtection ? MAX_CIPHERTEXT : MAX_PLAINTEXT;
    if (length > limit) return fatal(Alert.recordOverflow, `record of ${length} bytes exceeds the limit of ${limit}`);
    if (length === 0 && !this.readProtection && type !== ContentType.applicationData) {
      return fatal(Alert.unexpectedMessage, 'empty non-application record');
    }
    return undefined;
  }

  /**
   * Brings in the next chunk. When a record straddles the old and the new chunk, only that record is
   * copied together; the rest of the chunk waits in `next`, still a view (transport chunks are 64 KiB
   * and records 16 KiB, so joining whole chunks would copy every byte once more).
   */
  private async fill(): Promise<boolean> {
    let chunk: Uint8Array;
    if (this.next) {
      chunk = this.next;
      this.next = undefined;
    } else {
      const read = await this.readChunk();
      if (!read) return false;
      chunk = read;
    }
    const rest = this.buf.byteLength - this.off;
    if (rest === 0) {
      this.buf = chunk;
      this.off = 0;
      return true;
    }
    const take = Math.min(chunk.byteLength, this.bytesToCompleteRecord(rest, chunk));
    const joined = new Uint8Array(rest + take);
    joined.set(this.buf.subarray(this.off));
    joined.set(chunk.subarray(0, take), rest);
    this.buf = joined;
    this.off = 0;
    if (take < chunk.byteLength) this.next = chunk.subarray(take);
    return true;
  }

  /** How many bytes of `chunk` finish the partial record of `rest` bytes at the end of the buffer. */
  private bytesToCompleteRecord(rest: number, chunk: Uint8Array): number {
    if (rest + chunk.byteLength < 5) return chunk.byteLength;
    const at = (i: number): number => (i < rest ? this.buf[this.off + i]! : chunk[i - rest]!);
    return 5 + ((at(3) << 8) | at(4)) - rest;
  }

  private async readChunk(): Promise<Uint8Array | null> {
    if (this.eof) return null;
    for (;;) {
      let chunk: Uint8Array | null;
      try {
        chunk = await this.stream.read();
      } catch (cause) {
        throw new TlsError('TLS: the connection failed while reading', { cause });
      }
      if (chunk === null) {
        this.eof = true;
        return null;
      }
      if (chunk.byteLength > 0) return chunk;
    }
  }

  // ---- writing ----

  /** Seals `data` as records of `type` and queues them for the next flush (handshake flights). */
  async queue(type: number, data: Uint8Array): Promise<void> {
    this.pendingOut.push(...(await this.sealAll(type, data)));
  }

  async flush(): Promise<void> {
    const parts = this.pendingOut;
    this.pendingOut = [];
    if (parts.length) await this.writeToStream(joinParts(parts));
  }

  /**
   * Application data: fragments into ≤ 16384-byte records, seals batches in parallel and overlaps
   * sealing the next batch with writing the previous one. Concurrent calls keep their order.
   */
  write(type: number, data: Uint8Array): Promise<void> {
    const run = this.writeChain.then(() => this.writeNow(type, data));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private async writeNow(type: number, data: Uint8Array): Promise<void> {
    let inFlight: Promise<void> | undefined;
    try {
      for (let start = 0; start < data.byteLength || (start === 0 && data.byteLength === 0); ) {
        const end = Math.min(data.byteLength, start + RECORDS_PER_WRITE * MAX_PLAINTEXT);
        const sealed = this.sealAll(type, data.subarray(start, end));
        start = end;
        const parts = await sealed;
        if (inFlight) await inFlight;
        inFlight = this.writeToStream(joinParts(parts));
        if (data.byteLength === 0) break;
      }
      if (inFlight) await inFlight;
    } catch (error) {
      if (inFlight) await inFlight.catch(() => undefined);
      throw error;
    }
  }

  /** Record parts (header, body parts) for `data`, sealed concurrently, sequence numbers in order. */
  private async sealAll(type: number, data: Uint8Array): Promise<Uint8Array[][]> {
    const jobs: Promise<Uint8Array[]>[] = [];
    let offset = 0;
    do {
      const fragment = data.subarray(offset, offset + MAX_PLAINTEXT);
      offset += fragment.byteLength;
      jobs.push(this.seal(type, fragment));
    } while (offset < data.byteLength);
    return Promise.all(jobs);
  }

  private async seal(type: number, fragment: Uint8Array): Promise<Uint8Array[]> {
    const seq = this.writeSeq++;
    const body = this.writeProtection ? await this.writeProtection.seal(type, seq, fragment) : [fragment];
    let length = 0;
    for (const p of body) length += p.byteLength;
    const header = new Uint8Array([type, 3, 3, length >>> 8, length & 0xff]);
    return [header, ...body];
  }

  private async writeToStream(bytes: Uint8Array): Promise<void> {
    try {
      await this.stream.write(bytes);
    } catch (cause) {
      throw new TlsError('TLS: the connection closed while writing', { cause });
    }
  }

  /** Sends an alert in order with other writes. Fatal alerts are best effort: never wait long. */
  async sendAlert(level: 1 | 2, description: number, bounded = level === 2): Promise<void> {
    this.pendingOut = [];
    const send = this.write(ContentType.alert, new Uint8Array([level, description]));
    if (!bounded) return send;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([send.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
  }
}

function joinParts(records: Uint8Array[][]): Uint8Array {
  let n = 0;
  for (const r of records) for (const p of r) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const r of records) {
    for (const p of r) {
      out.set(p, o);
      o += p.byteLength;
    }
  }
  return out;
}

/** A TlsError for an alert the peer sent. */
export function peerAlertError(level: number, description: number): TlsError {
  const what = description === Alert.protocolVersion ? ' — the peer does not speak TLS 1.2' : '';
  return new TlsError(`TLS: the peer sent a ${level === 2 ? 'fatal' : 'warning'} alert: ${alertName(description)}${what}`, {
    alert: description,
    fromPeer: true,
  });
}
