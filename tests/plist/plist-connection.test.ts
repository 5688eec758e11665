import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { ProtocolError } from '../../src/core/errors.ts';
import {
  MAX_PLIST_MESSAGE_BYTES,
  PlistConnection,
  PlistUid,
  decodePlist,
  encodeBinaryPlist,
  encodeXmlPlist,
} from '../../src/plist/index.ts';

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

test('send/receive in XML and binary, with the length prefix on the wire', async () => {
  const [a, b] = createStreamPair();
  const host = new PlistConnection(a, 'lockdown');
  const device = new PlistConnection(b, 'lockdown');
  const message = { Request: 'GetValue', Key: 'ProductVersion', Label: 'lifeboat', n: 2n ** 63n, uid: new PlistUid(3) };
  await host.send(message);
  assert.deepStrictEqual(await device.receive(), message);
  await device.send({ Value: '17.4', Bytes: new Uint8Array([1, 2]) }, 'binary');
  assert.deepStrictEqual(await host.receive(), { Value: '17.4', Bytes: new Uint8Array([1, 2]) });

  // Inspect the raw frame: u32 big-endian length then an XML body.
  await host.send({ x: 1 });
  const len = await device.reader.readUint32BE();
  const body = await device.reader.readExactly(len);
  assert.equal(len, encodeXmlPlist({ x: 1 }).length);
  assert.deepStrictEqual(decodePlist(body), { x: 1 });
  await host.close();
});

test('messages delivered one byte at a time, and several in one chunk', async () => {
  const [a, b] = createStreamPair();
  const reader = new PlistConnection(b);
  const bytes = frame(encodeBinaryPlist({ Status: 'Complete', List: [1, 2, 3] }));
  const writing = (async () => {
    for (let i = 0; i < bytes.length; i++) await a.write(bytes.slice(i, i + 1));
    const two = new Uint8Array([...frame(encodeXmlPlist('first')), ...frame(encodeBinaryPlist('second'))]);
    await a.write(two);
  })();
  assert.deepStrictEqual(await reader.receive(), { Status: 'Complete', List: [1, 2, 3] });
  assert.equal(await reader.receive(), 'first');
  assert.equal(await reader.receive(), 'second');
  await writing;
});

test('clean end between messages: receiveOrEnd gives null, receive throws ProtocolError', async () => {
  const [a, b] = createStreamPair();
  const conn = new PlistConnection(b, 'notification_proxy');
  await a.write(frame(encodeXmlPlist({ Command: 'ProxyDeath' })));
  await a.close();
  assert.deepStrictEqual(await conn.receiveOrEnd(), { Command: 'ProxyDeath' });
  assert.equal(await conn.receiveOrEnd(), null);
  await assert.rejects(conn.receive(), (e: unknown) => e instanceof ProtocolError && /notification_proxy/.test(e.message));
});

test('EOF in the middle of a body or a header is a ProtocolError', async () => {
  {
    const [a, b] = createStreamPair();
    const full = frame(encodeXmlPlist({ a: 'b' }));
    await a.write(full.subarray(0, full.length - 5));
    await a.close();
    await assert.rejects(new PlistConnection(b).receiveOrEnd(), ProtocolError);
  }
  {
    const [a, b] = createStreamPair();
    await a.write(new Uint8Array([0, 0]));
    await a.close();
    await assert.rejects(new PlistConnection(b).receive(), ProtocolError);
  }
});

test('an oversized declared length fails at once, without waiting for the body', async () => {
  const [a, b] = createStreamPair();
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, MAX_PLIST_MESSAGE_BYTES + 1);
  await a.write(header); // peer stays open: a reader that waited for the body would hang here
  await assert.rejects(new PlistConnection(b).receive(), (e: unknown) => e instanceof ProtocolError && /exceeds/.test(e.message));
  await a.close();
});

test('an undecodable body is a ProtocolError carrying the PlistError as cause', async () => {
  const [a, b] = createStreamPair();
  await a.write(frame(new TextEncoder().encode('<plist><dict><key>x</key></dict></plist>')));
  await assert.rejects(new PlistConnection(b).receive(), (e: unknown) => e instanceof ProtocolError && (e.cause as Error).name === 'PlistError');
  await a.close();
});

test('raw bytes interleaved between messages are read through the exposed reader (DeviceLink)', async () => {
  const [a, b] = createStreamPair();
  const sender = new PlistConnection(a, 'mobilebackup2');
  const receiver = new PlistConnection(b, 'mobilebackup2');
  const payload = new Uint8Array(100_000).map((_, i) => i * 7);
  await sender.send(['DLMessageUploadFiles', { count: 1 }], 'binary');
  await sender.write(payload);
  await sender.send(['DLMessageProcessMessage', { done: true }], 'binary');
  assert.deepStrictEqual(await receiver.receive(), ['DLMessageUploadFiles', { count: 1 }]);
  assert.deepStrictEqual(await receiver.reader.readExactly(payload.length), payload);
  assert.deepStrictEqual(await receiver.receive(), ['DLMessageProcessMessage', { done: true }]);
  await receiver.close();
  assert.equal(await receiver.receiveOrEnd(), null);
});
