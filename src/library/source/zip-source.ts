import { CorruptBackupError } from '../../core/errors.ts';
import { DEFAULT_CHUNK_SIZE, type BackupSource, type SourceEntry, type SourceStat } from './backup-source.ts';
import { MissingBackupFileError, normalisePath } from '../errors.ts';
import { PathRefusedError, confinedPath, refusalOf, type Refusal } from '../../core/confined-path.ts';

/** What we need of a File/Blob (Node's fs.openAsBlob returns one too). */
export interface BlobLike {
  readonly size: number;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Resolved lazily from the local header. */
  dataOffset?: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const MAX_ENTRIES = 10_000_000;
/** Deflate's best case: a 258-byte match in under 2 bits, so at most ~1032 bytes out per byte in. */
const MAX_DEFLATE_RATIO = 1032;

function u64(view: DataView, at: number): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptBackupError('The zip file has an impossible 64-bit size.');
  return Number(value);
}

/** A backup inside a .zip (e.g. a Backup folder zipped on another machine). */
export class ZipSource implements BackupSource {
  readonly label: string;
  private readonly files = new Map<string, ZipEntry>();
  private readonly directories = new Map<string, Map<string, SourceEntry['kind']>>();
  /** Entries whose names could escape wherever the zip is read or copied to; they are not listed. */
  readonly refused: Refusal[] = [];

  private constructor(
    private readonly blob: BlobLike,
    label: string,
  ) {
    this.label = label;
    this.directories.set('', new Map());
  }

  static async open(blob: BlobLike, label = 'backup.zip'): Promise<ZipSource> {
    const zip = new ZipSource(blob, label);
    await zip.readCentralDirectory();
    return zip;
  }

  private async bytes(start: number, end: number): Promise<Uint8Array> {
    return new Uint8Array(await this.blob.slice(start, end).arrayBuffer());
  }

  private async readCentralDirectory(): Promise<void> {
    const size = this.blob.size;
    const tailStart = Math.max(0, size - (22 + 0xffff));
    const tail = await this.bytes(tailStart, size);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new CorruptBackupError(`“${this.label}” is not a zip file (no end of central directory).`);
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locatorAt = eocd - 20;
      if (locatorAt < 0 || tv.getUint32(locatorAt, true) !== ZIP64_LOCATOR_SIG) {
        throw new CorruptBackupError(`“${this.label}”: zip64 sizes are announced but the zip64 locator is missing.`);
      }
      const recordOffset = u64(tv, locatorAt + 8);
      if (recordOffset + 56 > size) throw new CorruptBackupError(`“${this.label}”: the zip64 record lies outside the file.`);
      const rec = await this.bytes(recordOffset, recordOffset + 56);
      const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
      if (rv.getUint32(0, true) !== ZIP64_EOCD_SIG) throw new CorruptBackupError(`“${this.label}”: bad zip64 end record.`);
      count = u64(rv, 32);
      cdSize = u64(rv, 40);
      cdOffset = u64(rv, 48);
    }
    if (cdOffset + cdSize > size || count > MAX_ENTRIES || count * 46 > cdSize) {
      throw new CorruptBackupError(`“${this.label}”: the zip central directory lies about its size or position.`);
    }
    const cd = await this.bytes(cdOffset, cdOffset + cdSize);
    const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const decoder = new TextDecoder();
    let at = 0;
    for (let n = 0; n < count; n++) {
      if (at + 46 > cd.length || v.getUint32(at, true) !== CENTRAL_SIG) {
        throw new CorruptBackupError(`“${this.label}”: zip central directory entry ${n} is damaged.`);
      }
      const method = v.getUint16(at + 10, true);
      let compressedSize = v.getUint32(at + 20, true);
      let uncompressed = v.getUint32(at + 24, true);
      const nameLen = v.getUint16(at + 28, true);
      const extraLen = v.getUint16(at + 30, true);
      const commentLen = v.getUint16(at + 32, true);
      let localHeaderOffset = v.getUint32(at + 42, true);
      const end = at + 46 + nameLen + extraLen + commentLen;
      if (end > cd.length) throw new CorruptBackupError(`“${this.label}”: zip central directory entry ${n} is truncated.`);
      const name = decoder.decode(cd.subarray(at + 46, at + 46 + nameLen));
      // Zip64 extra field: only the 32-bit fields that are saturated appear, in this order.
      let e = at + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = v.getUint16(e, true);
        const len = v.getUint16(e + 2, true);
        if (id === 0x0001) {
          let f = e + 4;
          // The field's own length is the writer's claim: it may run past the entry's extra area (and the directory).
          const fieldEnd = Math.min(e + 4 + len, extraEnd);
          const need = (c: boolean) => c && f + 8 <= fieldEnd;
          if (need(uncompressed === 0xffffffff)) (uncompressed = u64(v, f)), (f += 8);
          if (need(compressedSize === 0xffffffff)) (compressedSize = u64(v, f)), (f += 8);
          if (need(localHeaderOffset === 0xffffffff)) (localHeaderOffset = u64(v, f)), (f += 8);
        }
        e += 4 + len;
      }
      at = end;
      this.add({ name, method, compressedSize, size: uncompressed, localHeaderOffset });
    }
  }

  private add(entry: ZipEntry): void {
    const isDir = entry.name.endsWith('/');
    let clean: string;
    try {
      clean = confinedPath(isDir ? entry.name.slice(0, -1) : entry.name);
    } catch (error) {
      // A "../", absolute, backslash or NUL name is never reachable: not listed, but named.
      if (!(error instanceof PathRefusedError)) throw error;
      this.refused.push(refusalOf(error));
      return;
    }
    if (clean === '' || clean.startsWith('__MACOSX')) return;
    const parts = clean.split('/');
    // A name that is both a file and a folder, or a file twice, has no one meaning: the later entry is refused.
    const fileOnTheWay = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/')).find((p) => this.files.has(p));
    const clash = fileOnTheWay ?? (this.files.has(clean) || (!isDir && this.directories.has(clean)) ? clean : undefined);
    if (clash !== undefined) {
      this.refused.push(refusalOf(new PathRefusedError(entry.name, 'collision', `“${clash}” is already in the zip`)));
      return;
    }
    for (let i = 0; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const here = parts.slice(0, i + 1).join('/');
      const last = i === parts.length - 1;
      const kind = last && !isDir ? 'file' : 'directory';
      this.directories.get(parent)!.set(parts[i]!, kind);
      if (kind === 'directory' && !this.directories.has(here)) this.directories.set(here, new Map());
    }
    if (!isDir) this.files.set(clean, { ...entry, name: clean });
  }

  private entry(path: string): ZipEntry {
    const entry = this.files.get(normalisePath(path));
    if (!entry) throw new MissingBackupFileError(path);
    return entry;
  }

  private async dataOffset(entry: ZipEntry): Promise<number> {
    if (entry.dataOffset !== undefined) return entry.dataOffset;
    const header = await this.bytes(entry.localHeaderOffset, entry.localHeaderOffset + 30);
    const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
    if (header.length < 30 || hv.getUint32(0, true) !== LOCAL_SIG) {
      throw new CorruptBackupError(`The zip entry “${entry.name}” points at a damaged local header.`);
    }
    const dataOffset = entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (dataOffset + entry.compressedSize > this.blob.size) {
      throw new CorruptBackupError(`The zip entry “${entry.name}” claims more data than the zip file holds.`);
    }
    if (entry.method !== 0 && entry.method !== 8) {
      throw new CorruptBackupError(`The zip entry “${entry.name}” uses compression method ${entry.method}, which is not supported.`);
    }
    if (entry.method === 0 && entry.compressedSize !== entry.size) {
      throw new CorruptBackupError(`The zip entry “${entry.name}” is stored but its two sizes disagree.`);
    }
    if (entry.method === 8 && entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 64) {
      throw new CorruptBackupError(`The zip entry “${entry.name}” claims to inflate to more than deflate can produce from its data.`);
    }
    entry.dataOffset = dataOffset;
    return dataOffset;
  }

  async list(path: string): Promise<SourceEntry[]> {
    const dir = this.directories.get(normalisePath(path));
    if (!dir) throw new MissingBackupFileError(path || '.');
    return [...dir].map(([name, kind]) => ({ name, kind }));
  }

  async stat(path: string): Promise<SourceStat | null> {
    const clean = normalisePath(path);
    const file = this.files.get(clean);
    if (file) return { kind: 'file', size: file.size };
    return this.directories.has(clean) ? { kind: 'directory', size: 0 } : null;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const entry = this.entry(path);
    // The stated size is checked against the data before it decides an allocation.
    await this.dataOffset(entry);
    const out = new Uint8Array(entry.size);
    let at = 0;
    for await (const chunk of this.stream(path)) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    const entry = this.entry(path);
    end = Math.min(end, entry.size);
    if (entry.method === 0) {
      const offset = await this.dataOffset(entry);
      return this.bytes(offset + start, offset + Math.max(start, end));
    }
    // Deflate has no random access: inflate from the start and keep the window asked for.
    const out = new Uint8Array(Math.max(0, end - start));
    let position = 0;
    for await (const chunk of this.stream(path)) {
      const from = Math.max(start, position);
      const to = Math.min(end, position + chunk.length);
      if (to > from) out.set(chunk.subarray(from - position, to - position), from - start);
      position += chunk.length;
      if (position >= end) break;
    }
    return out;
  }

  /**
   * A stored (uncompressed) entry as a slice of the zip's Blob, so a big Manifest.db is read where it
   * lies, as a picked folder's is, instead of copied to scratch first (Lifeboat's own zips store every
   * entry). Null for a deflated entry: it has no random access.
   */
  async fileBlob(path: string): Promise<Blob | null> {
    const entry = this.files.get(normalisePath(path));
    if (!entry || entry.method !== 0) return null;
    const offset = await this.dataOffset(entry);
    return this.blob.slice(offset, offset + entry.size) as unknown as Blob;
  }

  async *stream(path: string, chunkSize = DEFAULT_CHUNK_SIZE): AsyncIterable<Uint8Array> {
    const entry = this.entry(path);
    const offset = await this.dataOffset(entry);
    if (entry.method === 0) {
      for (let at = 0; at < entry.size; at += chunkSize) {
        yield await this.bytes(offset + at, offset + Math.min(entry.size, at + chunkSize));
      }
      return;
    }
    const compressed = this.blob.slice(offset, offset + entry.compressedSize);
    const input = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        for (let at = 0; at < entry.compressedSize; at += chunkSize) {
          const piece = compressed as unknown as BlobLike;
          controller.enqueue(new Uint8Array(await piece.slice(at, Math.min(entry.compressedSize, at + chunkSize)).arrayBuffer()));
        }
        controller.close();
      },
    });
    const inflated = input.pipeThrough(new DecompressionStream('deflate-raw') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
    const reader = inflated.getReader();
    let produced = 0;
    let finished = false;
    try {
      for (;;) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (cause) {
          throw new CorruptBackupError(`The zip entry “${entry.name}” does not inflate (damaged deflate data).`, cause);
        }
        if (result.done) {
          finished = true;
          break;
        }
        produced += result.value.length;
        if (produced > entry.size) {
          throw new CorruptBackupError(`The zip entry “${entry.name}” inflates to more than its stated ${entry.size} bytes.`);
        }
        yield result.value;
      }
    } finally {
      // A caller that stops early (readRange) must not leave the inflater running.
      if (!finished) await reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
    if (produced !== entry.size) {
      throw new CorruptBackupError(`The zip entry “${entry.name}” inflates to ${produced} bytes, not its stated ${entry.size}.`);
    }
  }
}
