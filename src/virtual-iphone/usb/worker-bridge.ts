import type { TransferRecyclingDevice } from '../../usb/transfer-recycling.ts';
import { MAX_HOST_PACKET } from '../../usbmux/mux-packet.ts';
import type { VirtualIPhone } from '../virtual-iphone.ts';
import type { DeviceMuxOptions } from './device-mux.ts';
import { createVirtualIPhoneUsbDevice, type FakeUsbDevice, type PluggableUsbDevice } from './fake-usb-device.ts';
import { DescribedUsbDevice, buildUsbConfigurations, type UsbDeviceDescriptor } from './usb-descriptors.ts';
import { createTaskScheduler } from '../../core/next-task.ts';

/**
 * Runs the virtual iPhone in a worker while the page keeps a USBDevice-shaped proxy: every USB call
 * becomes a request on a MessagePort, bulk data travels as transferred ArrayBuffers. Works with the
 * browser's MessageChannel and with Node's worker_threads one.
 *
 * Calls are batched without bending USB semantics: the device in the worker still sees every
 * transferIn/transferOut with its length (babble, ZLP and unplug rules apply there), but all calls made
 * during one task travel as one message, and all results that settle during one task go back as one
 * message (a bulk download needs about 7 times fewer messages than one per transfer).
 *
 * Buffers: an IN transfer holding one whole packet travels as the device's own buffer (transferred,
 * so the worker can no longer touch it); once the host stack is done with it, the page transfers it
 * back with its next requests ('recycle') and the device builds later packets in it. A buffer the
 * host keeps (the consumer owns what it read) simply never comes back.
 *
 * The other way, a bulk OUT transfer is copied into one of a few page-side buffers and lent to the
 * device, which gives it back (a GIVEN_BACK reply) once its services copied the bytes out; one a
 * service kept stays there. Fresh memory per transfer cost its page faults: a third of the page's CPU
 * while it sent a huge phone its 1.19 GB Manifest.db.
 */
export interface MessagePortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  start?(): void;
  close(): void;
}

type Op =
  | 'open'
  | 'close'
  | 'forget'
  | 'selectConfiguration'
  | 'claimInterface'
  | 'releaseInterface'
  | 'selectAlternateInterface'
  | 'controlTransferIn'
  | 'controlTransferOut'
  | 'clearHalt'
  | 'transferIn'
  | 'transferOut'
  | 'reset'
  | 'unplug'
  | 'describe'
  | 'recycle';

interface Request {
  id: number;
  op: Op;
  args: unknown[];
}

interface Reply {
  id: number;
  ok: boolean;
  /** transferIn: status + data buffer; transferOut: status + bytesWritten; others: undefined. */
  status?: USBTransferStatus;
  data?: ArrayBuffer;
  /** transferIn: bytes of `data` that are the transfer (from offset 0); all of it when absent. */
  length?: number;
  bytesWritten?: number;
  descriptor?: UsbDeviceDescriptor;
  error?: { name: string; message: string };
}

/** Reply id of an OUT transfer buffer the device is done with (no request waits for it). */
const GIVEN_BACK = -1;
/** OUT transfers from this size up to one host mux packet travel in lent buffers; smaller ones are copied. */
const LENT_OUT_MIN_BYTES = 4096;
const LENT_OUT_BUFFER_BYTES = MAX_HOST_PACKET;
/** Lent buffers kept idle on the page (about a receive window's worth). */
const MAX_SPARE_OUT = 32;

interface DisconnectNotice {
  event: 'disconnect';
}

/** What travels page → worker: every request issued during one task. */
interface RequestBatch {
  requests: Request[];
}

/** What travels worker → page: every reply that settled during one task. */
interface ReplyBatch {
  replies: Reply[];
}

/**
 * Collects items during one task and posts them as one message at the end of it. "End of task" is the
 * next macrotask (setImmediate in Node, scheduler.postTask or a MessageChannel hop in browsers): a
 * microtask would fire between the continuations of promises settled together and split the batch.
 */
class Outbox<T> {
  private items: T[] = [];
  private transfer: Transferable[] = [];
  private scheduled = false;
  private disposed = false;
  private readonly runFlush = (): void => this.flush();

  constructor(
    private readonly post: (items: T[], transfer: Transferable[]) => void,
    private readonly schedule: (task: () => void) => void,
  ) {}

  add(item: T, transfer?: Transferable): void {
    if (this.disposed) return;
    this.items.push(item);
    if (transfer) this.transfer.push(transfer);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.runFlush);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.items.length === 0 || this.disposed) return;
    const items = this.items;
    // A buffer may be listed once only; replies never share one, but a duplicate must not throw.
    const transfer = this.transfer.length > 1 ? [...new Set(this.transfer)] : this.transfer;
    this.items = [];
    this.transfer = [];
    this.post(items, transfer);
  }

  dispose(): void {
    this.disposed = true;
    this.items = [];
    this.transfer = [];
  }
}

// ───────────────────────── worker side ─────────────────────────

export interface ServedUsbDevice {
  readonly device: FakeUsbDevice;
  /** Stops serving and closes the port. */
  close(): void;
}

/** In the worker: exposes the virtual iPhone's USB device on `port`. */
export function serveUsbDeviceOverPort(
  port: MessagePortLike,
  iphone: Pick<VirtualIPhone, 'ports' | 'udid' | 'productId'>,
  options: { mux?: DeviceMuxOptions } = {},
): ServedUsbDevice {
  const device = createVirtualIPhoneUsbDevice(iphone, options);
  const tasks = createTaskScheduler();
  const outbox = new Outbox<Reply>((replies, transfer) => port.postMessage({ replies } satisfies ReplyBatch, transfer), tasks.schedule);
  const reply = (message: Reply, transfer?: ArrayBuffer): void => outbox.add(message, transfer);
  const serve = (request: Request): void => {
    void handle(request).then(
      (result) => reply(result.reply, result.transfer),
      (error: unknown) => {
        const e = error as { name?: unknown; message?: unknown };
        reply({ id: request.id, ok: false, error: { name: String(e?.name ?? 'Error'), message: String(e?.message ?? error) } });
      },
    );
  };
  const take = (request: Request): void => {
    // A buffer handed back for reuse: it arrived by transfer, so nothing else can see it. No reply.
    if (request.op === 'recycle') device.adoptTransferBuffer(request.args[0] as ArrayBuffer);
    else serve(request);
  };
  const onMessage = (event: MessageEvent): void => {
    const message = event.data as RequestBatch | Request;
    if ('requests' in message) for (const request of message.requests) take(request);
    else take(message);
  };

  async function handle({ id, op, args }: Request): Promise<{ reply: Reply; transfer?: ArrayBuffer }> {
    switch (op) {
      case 'transferIn': {
        const result = await device.transferIn(args[0] as number, args[1] as number);
        const view = result.data;
        if (view && device.releaseWholeTransfer(view.buffer as ArrayBuffer)) {
          // One whole packet at the start of its (pooled) buffer: move the buffer itself, no copy.
          const buffer = view.buffer as ArrayBuffer;
          return { reply: { id, ok: true, status: result.status, data: buffer, length: view.byteLength }, transfer: buffer };
        }
        const data = view ? ownBuffer(view) : undefined;
        return { reply: { id, ok: true, status: result.status, data }, transfer: data };
      }
      case 'transferOut': {
        // The page's copy, moved here by transfer: the device may keep it as it is, or give a lent one back.
        const buffer = args[1] as ArrayBuffer;
        const bytes = new Uint8Array(buffer, 0, (args[2] as number | undefined) ?? buffer.byteLength);
        const giveBack = args[3] === true ? () => reply({ id: GIVEN_BACK, ok: true, data: buffer }, buffer) : undefined;
        const result = await device.transferOutOwned(args[0] as number, bytes, giveBack);
        return { reply: { id, ok: true, status: result.status, bytesWritten: result.bytesWritten } };
      }
      case 'controlTransferIn': {
        const result = await device.controlTransferIn(args[0] as USBControlTransferParameters, args[1] as number);
        const data = result.data ? ownBuffer(result.data) : undefined;
        return { reply: { id, ok: true, status: result.status, data }, transfer: data };
      }
      case 'controlTransferOut': {
        const data = args[1] as ArrayBuffer | undefined;
        const result = await device.controlTransferOut(args[0] as USBControlTransferParameters, data ? new Uint8Array(data) : undefined);
        return { reply: { id, ok: true, status: result.status, bytesWritten: result.bytesWritten } };
      }
      case 'describe':
        return { reply: { id, ok: true, descriptor: device.descriptor } };
      case 'unplug':
        device.unplug();
        return { reply: { id, ok: true } };
      case 'open':
      case 'close':
      case 'forget':
      case 'reset':
        await device[op]();
        return { reply: { id, ok: true } };
      case 'selectConfiguration':
      case 'claimInterface':
      case 'releaseInterface':
        await device[op](args[0] as number);
        return { reply: { id, ok: true } };
      case 'selectAlternateInterface':
        await device.selectAlternateInterface(args[0] as number, args[1] as number);
        return { reply: { id, ok: true } };
      case 'clearHalt':
        await device.clearHalt(args[0] as USBDirection, args[1] as number);
        return { reply: { id, ok: true } };
      case 'recycle':
        return { reply: { id, ok: true } }; // handled in `take`, never here
    }
  }

  device.onUnplug(() => {
    // Results that settled before the cable was pulled still arrive first, as with real hardware.
    outbox.flush();
    port.postMessage({ event: 'disconnect' } satisfies DisconnectNotice);
  });
  port.addEventListener('message', onMessage);
  port.start?.();
  return {
    device,
    close() {
      outbox.dispose();
      tasks.dispose();
      port.removeEventListener('message', onMessage);
      port.close();
    },
  };
}

/** An ArrayBuffer holding exactly the view's bytes: the packet's own buffer when it is whole (no copy). */
function ownBuffer(view: DataView): ArrayBuffer {
  const buffer = view.buffer as ArrayBuffer;
  if (view.byteOffset === 0 && view.byteLength === buffer.byteLength) return buffer;
  return buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
}

// ───────────────────────── page side ─────────────────────────

/** The page's stand-in for the worker's device; plug it into a FakeUsb to get `disconnect` events. */
export interface WorkerUsbDevice extends PluggableUsbDevice {
  /** Stops listening and closes the port (pending calls reject with NotFoundError). */
  dispose(): void;
  /** Lent OUT buffers: made fresh, and lent again after the device gave them back (tests and benches). */
  readonly lentOut: { allocated: number; reused: number };
}

/** Asks the worker for the device's descriptors, then builds the proxy. */
export async function connectWorkerUsbDevice(port: MessagePortLike): Promise<WorkerUsbDevice> {
  const descriptor = await new Promise<UsbDeviceDescriptor>((resolve, reject) => {
    const onMessage = (event: MessageEvent): void => {
      const message = event.data as ReplyBatch | DisconnectNotice;
      const reply = 'replies' in message ? message.replies.find((r) => r.id === 0) : undefined;
      if (!reply) return;
      port.removeEventListener('message', onMessage);
      if (reply.ok && reply.descriptor) resolve(reply.descriptor);
      else reject(new Error(reply.error?.message ?? 'no descriptor'));
    };
    port.addEventListener('message', onMessage);
    port.start?.();
    port.postMessage({ id: 0, op: 'describe', args: [] } satisfies Request);
  });
  return createWorkerUsbDevice(port, descriptor);
}

/** On the page: a USBDevice whose calls run on the device served at the other end of `port`. */
export function createWorkerUsbDevice(port: MessagePortLike, descriptor: UsbDeviceDescriptor): WorkerUsbDevice {
  return new WorkerUsbDeviceProxy(port, descriptor);
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (error: unknown) => void;
}

class WorkerUsbDeviceProxy extends DescribedUsbDevice implements WorkerUsbDevice, TransferRecyclingDevice {
  readonly configurations: USBConfiguration[];

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly tasks = createTaskScheduler();
  private readonly outbox: Outbox<Request>;
  private isOpened = false;
  private activeConfiguration: number;
  private readonly claimed = new Set<number>();
  private unplugged = false;
  private readonly unplugListeners: (() => void)[] = [];
  /** IN transfer buffers that arrived from the worker and may go back once (never twice: aliasing). */
  private readonly returnable = new WeakSet<ArrayBuffer>();
  /** OUT transfer buffers the device gave back, to lend again. */
  private readonly spareOut: ArrayBuffer[] = [];
  readonly lentOut = { allocated: 0, reused: 0 };
  private readonly onMessage = (event: MessageEvent): void => {
    const message = event.data as ReplyBatch | DisconnectNotice;
    if ('event' in message) {
      this.markUnplugged();
      return;
    }
    for (const reply of message.replies) this.settle(reply);
  };

  constructor(
    private readonly port: MessagePortLike,
    descriptor: UsbDeviceDescriptor,
  ) {
    super(descriptor);
    this.activeConfiguration = descriptor.initialConfiguration;
    this.configurations = buildUsbConfigurations(
      descriptor,
      (value, iface) => this.isOpened && value === this.activeConfiguration && this.claimed.has(iface),
    );
    this.outbox = new Outbox<Request>((requests, transfer) => port.postMessage({ requests } satisfies RequestBatch, transfer), this.tasks.schedule);
    port.addEventListener('message', this.onMessage);
    port.start?.();
  }

  get opened(): boolean {
    return this.isOpened;
  }

  get configuration(): USBConfiguration | null {
    return this.configurations.find((c) => c.configurationValue === this.activeConfiguration) ?? null;
  }

  get isUnplugged(): boolean {
    return this.unplugged;
  }

  async open(): Promise<void> {
    await this.call('open', []);
    this.isOpened = true;
  }

  async close(): Promise<void> {
    await this.call('close', []);
    this.isOpened = false;
    this.claimed.clear();
  }

  async forget(): Promise<void> {
    await this.call('forget', []);
  }

  async selectConfiguration(configurationValue: number): Promise<void> {
    await this.call('selectConfiguration', [configurationValue]);
    if (configurationValue !== this.activeConfiguration) this.claimed.clear();
    this.activeConfiguration = configurationValue;
  }

  async claimInterface(interfaceNumber: number): Promise<void> {
    await this.call('claimInterface', [interfaceNumber]);
    this.claimed.add(interfaceNumber);
  }

  async releaseInterface(interfaceNumber: number): Promise<void> {
    await this.call('releaseInterface', [interfaceNumber]);
    this.claimed.delete(interfaceNumber);
  }

  async selectAlternateInterface(interfaceNumber: number, alternateSetting: number): Promise<void> {
    await this.call('selectAlternateInterface', [interfaceNumber, alternateSetting]);
  }

  async controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<USBInTransferResult> {
    const reply = await this.call('controlTransferIn', [{ ...setup }, length]);
    return { status: reply.status ?? 'ok', data: reply.data ? new DataView(reply.data) : undefined };
  }

  async controlTransferOut(setup: USBControlTransferParameters, data?: BufferSource): Promise<USBOutTransferResult> {
    const copy = data ? copyBuffer(data) : undefined;
    const reply = await this.call('controlTransferOut', [{ ...setup }, copy], copy);
    return { status: reply.status ?? 'ok', bytesWritten: reply.bytesWritten ?? 0 };
  }

  async clearHalt(direction: USBDirection, endpointNumber: number): Promise<void> {
    await this.call('clearHalt', [direction, endpointNumber]);
  }

  async transferIn(endpointNumber: number, length: number): Promise<USBInTransferResult> {
    const reply = await this.call('transferIn', [endpointNumber, length]);
    const data = reply.data;
    if (!data) return { status: reply.status ?? 'ok', data: undefined };
    this.returnable.add(data);
    return { status: reply.status ?? 'ok', data: new DataView(data, 0, reply.length ?? data.byteLength) };
  }

  recycleTransferBuffer(buffer: ArrayBuffer): void {
    if (this.unplugged || !this.returnable.delete(buffer)) return;
    this.outbox.add({ id: 0, op: 'recycle', args: [buffer] }, buffer);
  }

  async transferOut(endpointNumber: number, data: BufferSource): Promise<USBOutTransferResult> {
    // Copy (the caller keeps its buffer, as with real WebUSB), then transfer the copy without another.
    const size = data.byteLength;
    if (size >= LENT_OUT_MIN_BYTES && size <= LENT_OUT_BUFFER_BYTES) {
      let lent = this.spareOut.pop();
      if (lent) this.lentOut.reused++;
      else {
        lent = new ArrayBuffer(LENT_OUT_BUFFER_BYTES);
        this.lentOut.allocated++;
      }
      new Uint8Array(lent, 0, size).set(bytesOf(data));
      const reply = await this.call('transferOut', [endpointNumber, lent, size, true], lent);
      return { status: reply.status ?? 'ok', bytesWritten: reply.bytesWritten ?? 0 };
    }
    const copy = copyBuffer(data);
    const reply = await this.call('transferOut', [endpointNumber, copy], copy);
    return { status: reply.status ?? 'ok', bytesWritten: reply.bytesWritten ?? 0 };
  }

  async isochronousTransferIn(): Promise<USBIsochronousInTransferResult> {
    throw new DOMException('The specified endpoint is not an isochronous endpoint of a claimed interface.', 'InvalidAccessError');
  }

  async isochronousTransferOut(): Promise<USBIsochronousOutTransferResult> {
    throw new DOMException('The specified endpoint is not an isochronous endpoint of a claimed interface.', 'InvalidAccessError');
  }

  async reset(): Promise<void> {
    await this.call('reset', []);
  }

  /** Pulls the (virtual) cable in the worker; the worker's disconnect notice completes it here. */
  unplug(): void {
    if (this.unplugged) return;
    this.outbox.add({ id: this.nextId++, op: 'unplug', args: [] });
    this.outbox.flush();
  }

  onUnplug(listener: () => void): void {
    if (this.unplugged) queueMicrotask(listener);
    else this.unplugListeners.push(listener);
  }

  dispose(): void {
    this.outbox.dispose();
    this.tasks.dispose();
    this.port.removeEventListener('message', this.onMessage);
    this.port.close();
    this.markUnplugged('NotFoundError');
  }

  private call(op: Op, args: unknown[], transfer?: ArrayBuffer): Promise<Reply> {
    if (this.unplugged) return Promise.reject(new DOMException('The device was disconnected.', 'NotFoundError'));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.outbox.add({ id, op, args }, transfer);
    });
  }

  private settle(reply: Reply): void {
    if (reply.id === GIVEN_BACK) {
      const buffer = reply.data;
      if (buffer && buffer.byteLength === LENT_OUT_BUFFER_BYTES && !this.unplugged && this.spareOut.length < MAX_SPARE_OUT) this.spareOut.push(buffer);
      return;
    }
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply);
    else pending.reject(new DOMException(reply.error?.message ?? 'USB error', reply.error?.name ?? 'NetworkError'));
  }

  private markUnplugged(name = 'NetworkError'): void {
    if (this.unplugged) return;
    this.unplugged = true;
    this.isOpened = false;
    this.claimed.clear();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(new DOMException('A transfer error has occurred.', name));
    for (const listener of this.unplugListeners.splice(0)) listener();
  }
}

function bytesOf(data: BufferSource): Uint8Array {
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data as ArrayBuffer);
}

function copyBuffer(data: BufferSource): ArrayBuffer {
  return bytesOf(data).slice().buffer;
}
