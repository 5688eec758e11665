import type { BufferedReader } from '../../core/buffered-reader.ts';
import { ProtocolError } from '../../core/errors.ts';
import { decodePlist, encodeXmlPlist, isPlistDict, type PlistDict } from '../../plist/index.ts';

/**
 * The usbmuxd client-socket protocol (not the USB mux itself): a 16-byte little-endian header
 * {length incl. header, version, message, tag} and, in version 1, an XML plist body.
 */
export const USBMUXD_HEADER_SIZE = 16;
/** usbmuxd itself drops clients whose message exceeds its 64 KiB command buffer; pair records fit easily. */
export const USBMUXD_MAX_MESSAGE = 0x10000;

export const UsbmuxdMessage = {
  RESULT: 1,
  CONNECT: 2,
  LISTEN: 3,
  DEVICE_ADD: 4,
  DEVICE_REMOVE: 5,
  DEVICE_PAIRED: 6,
  PLIST: 8,
} as const;

export const UsbmuxdResult = {
  OK: 0,
  BADCOMMAND: 1,
  BADDEV: 2,
  CONNREFUSED: 3,
  BADVERSION: 6,
} as const;

/** errno values the daemon puts in Result for pair-record requests. */
export const ENOENT = 2;
export const EINVAL = 22;

export interface UsbmuxdHeader {
  length: number;
  version: number;
  message: number;
  tag: number;
}

export interface UsbmuxdFrame {
  header: UsbmuxdHeader;
  payload: Uint8Array;
}

export function encodeFrame(version: number, message: number, tag: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(USBMUXD_HEADER_SIZE + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.byteLength, true);
  view.setUint32(4, version, true);
  view.setUint32(8, message, true);
  view.setUint32(12, tag, true);
  out.set(payload, USBMUXD_HEADER_SIZE);
  return out;
}

/** A version-1 plist message; usbmuxd and libusbmuxd parse only XML, so that is what is sent. */
export function encodePlistFrame(tag: number, body: PlistDict): Uint8Array {
  return encodeFrame(1, UsbmuxdMessage.PLIST, tag, encodeXmlPlist(body));
}

/** A version-0 binary Result, what the daemon sends before it knows the client speaks plists. */
export function encodeBinaryResultFrame(tag: number, result: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, result, true);
  return encodeFrame(0, UsbmuxdMessage.RESULT, tag, payload);
}

export function resultBody(number: number): PlistDict {
  return { MessageType: 'Result', Number: number };
}

/** The next frame, or null when the peer closed cleanly between frames. */
export async function readFrame(reader: BufferedReader, maxLength = USBMUXD_MAX_MESSAGE): Promise<UsbmuxdFrame | null> {
  const head = await reader.readExactlyOrEnd(USBMUXD_HEADER_SIZE);
  if (head === null) return null;
  const view = new DataView(head.buffer, head.byteOffset, USBMUXD_HEADER_SIZE);
  const header: UsbmuxdHeader = {
    length: view.getUint32(0, true),
    version: view.getUint32(4, true),
    message: view.getUint32(8, true),
    tag: view.getUint32(12, true),
  };
  if (header.length < USBMUXD_HEADER_SIZE) {
    throw new ProtocolError('usbmuxd', `message length ${header.length} is shorter than its header`, head);
  }
  if (header.length > maxLength) {
    throw new ProtocolError('usbmuxd', `message of ${header.length} bytes exceeds the ${maxLength}-byte limit`, head);
  }
  const payload = await reader.readExactly(header.length - USBMUXD_HEADER_SIZE);
  return { header, payload };
}

/** The plist dict of a version-1 message. */
export function decodePlistBody(frame: UsbmuxdFrame): PlistDict {
  if (frame.header.message !== UsbmuxdMessage.PLIST) {
    throw new ProtocolError('usbmuxd', `expected a plist message (8), got message type ${frame.header.message}`);
  }
  const value = decodePlist(frame.payload);
  if (!isPlistDict(value)) throw new ProtocolError('usbmuxd', 'the message body is not a dictionary');
  return value;
}

/** usbmuxd carries the device port in network byte order inside a host-order integer (htons). */
export function swapPortBytes(port: number): number {
  return ((port & 0xff) << 8) | ((port >> 8) & 0xff);
}

export function integerField(dict: PlistDict, key: string): number | undefined {
  const v = dict[key];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

export function stringField(dict: PlistDict, key: string): string | undefined {
  const v = dict[key];
  return typeof v === 'string' ? v : undefined;
}
