import * as Comlink from 'comlink';
import type { DeviceCardInfo, DeviceWorkerApi, PairingStep } from '../../device/device-api.ts';
import { installErrorTransfer } from '../../core/comlink-errors.ts';
import type { ErrorCode } from '../../core/errors.ts';
import { startVirtualIPhone } from './virtual-iphone.ts';

installErrorTransfer();

export type DeviceScreen =
  | { kind: 'idle' }
  | { kind: 'connecting'; virtual: boolean }
  | { kind: 'connected'; card: DeviceCardInfo }
  | { kind: 'pairing'; card: DeviceCardInfo; step: PairingStep['step'] }
  | { kind: 'error'; code: ErrorCode | 'unknown'; message: string; action?: string; card?: DeviceCardInfo }
  | { kind: 'disconnected' };

/** Browser capabilities the first screen must explain when missing. */
export const environment = {
  secure: typeof window !== 'undefined' && window.isSecureContext,
  webUsb: typeof navigator !== 'undefined' && 'usb' in navigator,
};

export const session = $state<{ screen: DeviceScreen }>({ screen: { kind: 'idle' } });

let worker: Worker | undefined;
let api: Comlink.Remote<DeviceWorkerApi> | undefined;
let stopVirtual: (() => void) | undefined;

function deviceWorker(): Comlink.Remote<DeviceWorkerApi> {
  if (!api) {
    worker = new Worker(new URL('../../../workers/device.worker.ts', import.meta.url), { type: 'module', name: 'device' });
    api = Comlink.wrap<DeviceWorkerApi>(worker);
    void api.onDisconnect(
      Comlink.proxy(() => {
        if (session.screen.kind !== 'idle') session.screen = { kind: 'disconnected' };
      }),
    );
  }
  return api;
}

function showError(error: unknown, card?: DeviceCardInfo): void {
  const e = error as { code?: ErrorCode; message?: string; action?: string };
  session.screen = {
    kind: 'error',
    code: e.code ?? 'unknown',
    message: e.message ?? String(error),
    ...(e.action ? { action: e.action } : {}),
    ...(card ? { card } : {}),
  };
}

export async function connectVirtual(): Promise<void> {
  session.screen = { kind: 'connecting', virtual: true };
  try {
    const { port, stop } = startVirtualIPhone();
    stopVirtual = stop;
    const card = await deviceWorker().connectVirtual(Comlink.transfer(port, [port]));
    session.screen = { kind: 'connected', card };
  } catch (error) {
    showError(error);
  }
}

export async function connectUsb(): Promise<void> {
  try {
    const device = await navigator.usb.requestDevice({ filters: [{ vendorId: 0x05ac }] });
    session.screen = { kind: 'connecting', virtual: false };
    const card = await deviceWorker().connectUsb({
      vendorId: device.vendorId,
      productId: device.productId,
      serialNumber: device.serialNumber,
    });
    session.screen = { kind: 'connected', card };
  } catch (error) {
    // Closing Chrome's chooser without picking is not an error worth a screen.
    if ((error as DOMException).name === 'NotFoundError') return;
    showError(error);
  }
}

export async function pair(): Promise<void> {
  const screen = session.screen;
  if (screen.kind !== 'connected' && screen.kind !== 'error') return;
  const card = screen.card!;
  session.screen = { kind: 'pairing', card, step: 'waiting-for-trust' };
  try {
    const trusted = await deviceWorker().pair(
      Comlink.proxy((step: PairingStep) => {
        if (session.screen.kind === 'pairing') session.screen = { kind: 'pairing', card, step: step.step };
      }),
    );
    session.screen = { kind: 'connected', card: trusted };
  } catch (error) {
    showError(error, card);
  }
}

export async function forget(): Promise<void> {
  const screen = session.screen;
  await deviceWorker().forget();
  if (screen.kind === 'connected') session.screen = { kind: 'connected', card: { ...screen.card, trusted: false } };
}

export async function disconnect(): Promise<void> {
  await api?.disconnect();
  stopVirtual?.();
  stopVirtual = undefined;
  session.screen = { kind: 'idle' };
}
