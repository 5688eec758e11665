import { crc32Update } from '../../core/crc32.ts';
import type { ByteSink } from './byte-sink.ts';

const U32_MAX = 0xffffffff;

interface WrittenEntry {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
  dosTime: number;
  dosDate: number;
  zip64: boolean;
  directory: boolean;
}

function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.max(1980, date.getFullYear());
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

class Bytes {
  private readonly view: DataView;
  readonly bytes: Uint8Array;
  private at = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u16(v: number) {
    this.view.setUint16(this.at, v, true);
    this.at += 2;
    return this;
  }
  u32(v: number) {
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }
  u64(v: number) {
    this.view.setBigUint64(this.at, BigInt(v), true);
    this.at += 8;
    return this;
  }
  raw(b: Uint8Array) {
    this.bytes.set(b, this.at);
    this.at += b.length;
    return this;
  }
}

/**
 * A streaming zip writer: stored (uncompressed) entries whose CRC-32 and size are computed as
 * the data flows and written in a data descriptor after it, so nothing is buffered. Zip64
 * records appear when an entry or offset passes 4 GB, or always with `forceZip64`.
 */
export class ZipWriter {
  private offset = 0;
  private readonly entries: WrittenEntry[] = [];
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly sink: ByteSink,
    private readonly options: { forceZip64?: boolean } = {},
  ) {}

  private async emit(bytes: Uint8Array): Promise<void> {
    await this.sink.write(bytes);
    this.offset += bytes.length;
  }

  async addDirectory(name: string, modified = new Date()): Promise<void> {
    await this.addFile(name.endsWith('/') ? name : `${name}/`, [], modified);
  }

  async addFile(name: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array, modified = new Date()): Promise<void> {
    const nameBytes = this.encoder.encode(name);
    const { time, date } = dosDateTime(modified);
    const zip64 = !!this.options.forceZip64 || this.offset >= U32_MAX;
    const offset = this.offset;
    // Local header: sizes unknown yet (bit 3), UTF-8 names (bit 11). With zip64 the extra field
    // announces 8-byte sizes in the data descriptor.
    const extra = zip64 ? new Bytes(20).u16(0x0001).u16(16).u64(0).u64(0).bytes : new Uint8Array(0);
    const header = new Bytes(30 + nameBytes.length + extra.length)
      .u32(0x04034b50)
      .u16(zip64 ? 45 : 20)
      .u16(0x0808)
      .u16(0)
      .u16(time)
      .u16(date)
      .u32(0)
      .u32(zip64 ? U32_MAX : 0)
      .u32(zip64 ? U32_MAX : 0)
      .u16(nameBytes.length)
      .u16(extra.length)
      .raw(nameBytes)
      .raw(extra).bytes;
    await this.emit(header);
    let crc = 0;
    let size = 0;
    const chunks = data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
      crc = crc32Update(crc, chunk);
      size += chunk.length;
      await this.emit(chunk);
    }
    const entryZip64 = zip64 || size >= U32_MAX;
    // An entry that outgrew 4 GB without zip64 in its local header is still readable: readers
    // take sizes from the central directory, which gets the zip64 field.
    const descriptor = entryZip64
      ? new Bytes(24).u32(0x08074b50).u32(crc).u64(size).u64(size).bytes
      : new Bytes(16).u32(0x08074b50).u32(crc).u32(size).u32(size).bytes;
    await this.emit(descriptor);
    this.entries.push({ name: nameBytes, crc, size, offset, dosTime: time, dosDate: date, zip64: entryZip64 || offset >= U32_MAX, directory: name.endsWith('/') });
  }

  async finish(): Promise<void> {
    const cdStart = this.offset;
    for (const e of this.entries) {
      const big = e.zip64 || !!this.options.forceZip64;
      const extra = big ? new Bytes(28).u16(0x0001).u16(24).u64(e.size).u64(e.size).u64(e.offset).bytes : new Uint8Array(0);
      const record = new Bytes(46 + e.name.length + extra.length)
        .u32(0x02014b50)
        .u16((3 << 8) | 45) // made by Unix, spec 4.5
        .u16(big ? 45 : 20)
        .u16(0x0808)
        .u16(0)
        .u16(e.dosTime)
        .u16(e.dosDate)
        .u32(e.crc)
        .u32(big ? U32_MAX : e.size)
        .u32(big ? U32_MAX : e.size)
        .u16(e.name.length)
        .u16(extra.length)
        .u16(0)
        .u16(0)
        .u16(0)
        .u32(e.directory ? ((0o40755 << 16) | 0x10) >>> 0 : (0o100644 << 16) >>> 0)
        .u32(big ? U32_MAX : e.offset)
        .raw(e.name)
        .raw(extra).bytes;
      await this.emit(record);
    }
    const cdSize = this.offset - cdStart;
    const count = this.entries.length;
    const needZip64 = !!this.options.forceZip64 || count >= 0xffff || cdStart >= U32_MAX || cdSize >= U32_MAX || this.entries.some((e) => e.zip64);
    if (needZip64) {
      const recordOffset = this.offset;
      await this.emit(
        new Bytes(56).u32(0x06064b50).u64(44).u16((3 << 8) | 45).u16(45).u32(0).u32(0).u64(count).u64(count).u64(cdSize).u64(cdStart).bytes,
      );
      await this.emit(new Bytes(20).u32(0x07064b50).u32(0).u64(recordOffset).u32(1).bytes);
    }
    await this.emit(
      new Bytes(22)
        .u32(0x06054b50)
        .u16(0)
        .u16(0)
        .u16(needZip64 ? 0xffff : count)
        .u16(needZip64 ? 0xffff : count)
        .u32(needZip64 ? U32_MAX : cdSize)
        .u32(needZip64 ? U32_MAX : cdStart)
        .u16(0).bytes,
    );
    await this.sink.close();
  }
}
