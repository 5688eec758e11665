import { LifeboatError } from '../core/errors.ts';
import { decodeBase64, encodeBase64 } from '../plist/base64.ts';
import { PlistReal, PlistUid, isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';

/**
 * The diagnostics trace: JSON lines, one event per line, the first line a header with the format
 * version. Several sessions may be concatenated (`cat pair.trace backup.trace`): each starts with
 * its own header and connection numbers continue per session.
 *
 * Fidelity (what replay can rebuild): every plist message in and out of lockdown and every plist
 * service after TLS, with secrets and personal values redacted (see redact.ts); DeviceLink file
 * streams as one event per file (path, size, outcome; small structural plists such as Status.plist
 * and Manifest.plist keep their redacted content, everything else is size only); AFC packets as
 * operation, header payload and data size; anything else as byte counts. TLS start and end are
 * marked, not recorded. Timings are milliseconds since the session started.
 */
export const TRACE_FORMAT = 'lifeboat-trace';
export const TRACE_VERSION = 1;

/** Which side sent a message. */
export type TraceDirection = 'host' | 'device';

export interface TraceHeader {
  kind: 'trace';
  format: typeof TRACE_FORMAT;
  version: number;
  started: string;
  app: string;
  runtime: string;
  os: string;
}

/** A plist value as JSON: data, dates, big integers, reals, UIDs and redactions are tagged objects. */
export type JsonPlist = string | number | boolean | null | JsonPlist[] | { [key: string]: JsonPlist };

export type TraceEvent =
  | { kind: 'device'; t: number; udid: string; productId: number; connection: string }
  | { kind: 'open'; t: number; conn: number; port: number; service: string; tls?: boolean }
  | { kind: 'plist'; t: number; conn: number; dir: TraceDirection; name: string; size: number; value: JsonPlist }
  | { kind: 'file'; t: number; conn: number; dir: TraceDirection; path: string; bytes: number; status: 'ok' | 'error'; error?: string; content?: JsonPlist }
  | { kind: 'files-end'; t: number; conn: number; dir: TraceDirection }
  | { kind: 'afc'; t: number; conn: number; dir: TraceDirection; op: number; packet: number; header: string; bytes: number }
  | { kind: 'data'; t: number; conn: number; dir: TraceDirection; bytes: number }
  | { kind: 'tls'; t: number; conn: number }
  | { kind: 'tls-end'; t: number; conn: number }
  | { kind: 'close'; t: number; conn: number }
  | { kind: 'usb'; t: number; info: JsonPlist }
  | { kind: 'mux'; t: number; dir: TraceDirection; protocol: number; length: number; header: string }
  | { kind: 'error'; t: number; code: string; message: string; stack?: string }
  | { kind: 'note'; t: number; text: string }
  | { kind: 'truncated'; t: number; dropped: number };

export class TraceFormatError extends LifeboatError {
  constructor(message: string) {
    super('unsupported', message, { action: 'Pass a trace file written by Lifeboat (`--trace FILE` or the Diagnostics view).' });
  }
}

/** A plist value → JSON. `redactData` decides what becomes of a data value (size only unless it says keep). */
export function plistToJson(value: PlistValue): JsonPlist {
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? value : { $real: value };
  if (typeof value === 'bigint') return { $int: value.toString() };
  if (value instanceof Date) return { $date: value.toISOString() };
  if (value instanceof Uint8Array) return { $data: encodeBase64(value) };
  if (value instanceof PlistUid) return { $uid: value.value };
  if (value instanceof PlistReal) return { $real: value.value };
  if (Array.isArray(value)) return value.map(plistToJson);
  const out: { [key: string]: JsonPlist } = {};
  let tagged = false;
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith('$')) tagged = true;
    out[k] = plistToJson(v);
  }
  // Keys such as NSKeyedArchiver's $objects would read back as tags: wrap such dictionaries.
  return tagged ? { $dict: out } : out;
}

/** A JSON value written by plistToJson (after redaction) → a plist value; `fill` rebuilds redacted values. */
export function jsonToPlist(json: JsonPlist, fill: (redaction: Redaction, key: string | undefined) => PlistValue, key?: string): PlistValue {
  if (json === null) throw new TraceFormatError('a null inside a recorded plist');
  if (typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map((v) => jsonToPlist(v, fill));
  const redaction = asRedaction(json);
  if (redaction) return fill(redaction, key);
  if ('$real' in json && typeof json.$real === 'number') return new PlistReal(json.$real);
  if ('$int' in json && typeof json.$int === 'string') return BigInt(json.$int);
  if ('$date' in json && typeof json.$date === 'string') return new Date(json.$date);
  if ('$data' in json && typeof json.$data === 'string') return decodeBase64(json.$data);
  if ('$uid' in json && typeof json.$uid === 'number') return new PlistUid(json.$uid);
  const source = '$dict' in json && isJsonObject(json.$dict) ? json.$dict : json;
  const out: PlistDict = {};
  for (const [k, v] of Object.entries(source)) out[k] = jsonToPlist(v, fill, k);
  return out;
}

/** What a redacted value was: its plist type and size, so replay can generate a stand-in. */
export interface Redaction {
  type: 'data' | 'string' | 'value';
  /** Bytes (data) or characters (string). */
  size: number;
  why: string;
}

export function redactionJson(r: Redaction): JsonPlist {
  return { $redacted: r.type, size: r.size, why: r.why };
}

function asRedaction(json: { [key: string]: JsonPlist }): Redaction | null {
  const type = json.$redacted;
  if (type !== 'data' && type !== 'string' && type !== 'value') return null;
  return { type, size: typeof json.size === 'number' ? json.size : 0, why: typeof json.why === 'string' ? json.why : '' };
}

function isJsonObject(v: JsonPlist | undefined): v is { [key: string]: JsonPlist } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A short name for a message, used in the trace and in replay mismatch messages:
 * `Request GetValue{Domain: …, Key: …}`, `DLMessageProcessMessage{MessageName: Backup}`, `Command ObserveNotification{Name: …}`.
 */
export function messageName(value: PlistValue): string {
  if (Array.isArray(value)) {
    const head = typeof value[0] === 'string' ? value[0] : 'array';
    const second = value[1];
    if (isPlistDict(second) && typeof second.MessageName === 'string') return `${head}{MessageName: ${second.MessageName}}`;
    return head;
  }
  if (!isPlistDict(value)) return typeof value;
  for (const verb of ['Request', 'Command', 'MessageType', 'MessageName']) {
    const v = value[verb];
    if (typeof v !== 'string') continue;
    const details = ['Domain', 'Key', 'Service', 'Name']
      .filter((k) => typeof value[k] === 'string')
      .map((k) => `${k}: ${String(value[k])}`);
    return `${verb} ${v}${details.length ? `{${details.join(', ')}}` : ''}`;
  }
  if (typeof value.Error === 'string') return `Error ${value.Error}`;
  if (value.Result !== undefined) return `Result ${String(value.Result)}`;
  return `dict{${Object.keys(value).slice(0, 4).join(', ')}}`;
}

/** One session of a trace file. */
export interface TraceSession {
  header: TraceHeader;
  events: TraceEvent[];
  /** The file's line number (1-based) of each event, for messages that point into the file. */
  lines: number[];
}

/** Parses a trace file (one or more concatenated sessions); clear errors name the line. */
export function parseTrace(text: string): TraceSession[] {
  const sessions: TraceSession[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new TraceFormatError(`Line ${i + 1} of the trace is not JSON.`);
    }
    const record = value as { kind?: unknown; format?: unknown; version?: unknown };
    if (record.kind === 'trace') {
      if (record.format !== TRACE_FORMAT) throw new TraceFormatError(`Line ${i + 1}: not a Lifeboat trace header.`);
      if (typeof record.version !== 'number' || record.version > TRACE_VERSION) {
        throw new TraceFormatError(`Line ${i + 1}: trace format version ${String(record.version)} is newer than this Lifeboat reads (${TRACE_VERSION}).`);
      }
      sessions.push({ header: value as TraceHeader, events: [], lines: [] });
      continue;
    }
    const session = sessions.at(-1);
    if (!session) throw new TraceFormatError('The file does not start with a Lifeboat trace header.');
    if (typeof record.kind !== 'string') throw new TraceFormatError(`Line ${i + 1} of the trace has no event kind.`);
    session.events.push(value as TraceEvent);
    session.lines.push(i + 1);
  }
  if (sessions.length === 0) throw new TraceFormatError('The trace is empty.');
  return sessions;
}

export function formatTrace(header: TraceHeader, events: readonly TraceEvent[]): string {
  return [header, ...events].map((e) => JSON.stringify(e)).join('\n') + '\n';
}
