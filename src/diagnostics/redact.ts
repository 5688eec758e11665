import { sha256 } from '@noble/hashes/sha2.js';
import { PlistReal, PlistUid, type PlistValue } from '../plist/index.ts';
import { plistToJson, redactionJson, type JsonPlist } from './trace-format.ts';

/**
 * What a trace may not carry, by key name: secrets (pairing keys and certificates, the escrow bag,
 * session IDs, passwords, backup keybags) and personal values (device name, phone number, hardware
 * serials and addresses). Booleans and numbers under these keys stay (they say nothing personal and
 * replay needs them); strings, data and containers become a size-only redaction.
 */
const SECRET_KEY = /Password|Passcode|PrivateKey|Certificate|EscrowBag|SessionID|KeyBag|ManifestKey|Secret|Token|DevicePublicKey|PairRecord/i;
const PERSONAL_KEY =
  /^(DeviceName|PhoneNumber|IMEI\d*|MEID|ICCID|IMSI|SerialNumber|MLBSerialNumber|WiFiAddress|BluetoothAddress|EthernetAddress|UniqueChipID|DieID|ChipSerialNo|InternationalMobile\w*|IntegratedCircuitCardIdentity|MobileEquipmentIdentifier|ProductionSOC|Email\w*|AppleID\w*|DisplayName|GUID)$/;

/** Identifier shapes replaced by a stable hash of the same shape: UDIDs (both kinds) and UUIDs (HostID, SystemBUID). */
const IDENTIFIER_SHAPES: readonly [RegExp, (hex: string) => string][] = [
  [/^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{16}$/, (h) => `${h.slice(0, 8)}-${h.slice(8, 24)}`.toUpperCase()],
  [/^[0-9A-Fa-f]{40}$/, (h) => h.slice(0, 40)],
  [
    /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/,
    (h) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`.toUpperCase(),
  ],
];

const encoder = new TextEncoder();

/** A stable hash of an identifier in the identifier's own shape, so hosts that check shapes still accept it. */
export function stableIdentifierHash(raw: string): string {
  const hex = [...sha256(encoder.encode(`lifeboat-trace:${raw.toUpperCase()}`))].map((b) => b.toString(16).padStart(2, '0')).join('');
  for (const [shape, format] of IDENTIFIER_SHAPES) if (shape.test(raw)) return format(hex);
  return `id-${hex.slice(0, 16)}`;
}

function isIdentifier(text: string): boolean {
  return IDENTIFIER_SHAPES.some(([shape]) => shape.test(text));
}

/**
 * Redacts one session's values. Identifiers (UDID, HostID, SystemBUID and anything shaped like them)
 * become stable hashes, and every later string that contains one (a backup path `<UDID>/Status.plist`,
 * an error message) gets the hash in its place.
 */
export class Redactor {
  private readonly identifiers = new Map<string, string>();

  /** Registers an identifier known up front (the device's UDID) and returns its hash. */
  identifier(raw: string): string {
    let hashed = this.identifiers.get(raw);
    if (hashed === undefined) {
      hashed = stableIdentifierHash(raw);
      this.identifiers.set(raw, hashed);
    }
    return hashed;
  }

  /** Free text (paths, error messages, stacks) with every known identifier replaced by its hash. */
  text(text: string): string {
    if (isIdentifier(text)) return this.identifier(text);
    let out = text;
    for (const [raw, hashed] of this.identifiers) if (out.includes(raw)) out = out.split(raw).join(hashed);
    return out;
  }

  /** A plist value as redacted JSON. */
  plist(value: PlistValue, key?: string): JsonPlist {
    if (typeof value === 'boolean' || typeof value === 'number' || typeof value === 'bigint' || value instanceof PlistReal || value instanceof PlistUid || value instanceof Date) {
      return plistToJson(value);
    }
    if (key !== undefined && (SECRET_KEY.test(key) || PERSONAL_KEY.test(key))) {
      const why = SECRET_KEY.test(key) ? 'secret' : 'personal';
      if (typeof value === 'string') return redactionJson({ type: 'string', size: value.length, why });
      if (value instanceof Uint8Array) return redactionJson({ type: 'data', size: value.byteLength, why });
      return redactionJson({ type: 'value', size: 0, why });
    }
    if (typeof value === 'string') return this.text(value);
    // File payloads, keys and blobs of every kind: size only.
    if (value instanceof Uint8Array) return redactionJson({ type: 'data', size: value.byteLength, why: 'content' });
    if (Array.isArray(value)) return value.map((v) => this.plist(v));
    const out: { [k: string]: JsonPlist } = {};
    let tagged = false;
    // lockdown's GetValue/SetValue carry the key's name beside its Value: judge the Value by that name.
    const valueKey = typeof value.Key === 'string' ? value.Key : undefined;
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$')) tagged = true;
      // Keys can be paths too (DLMessageMoveItems maps `<UDID>/…` to `<UDID>/…`).
      out[this.text(k)] = this.plist(v, k === 'Value' && valueKey !== undefined ? valueKey : k);
    }
    return tagged ? { $dict: out } : out;
  }
}
