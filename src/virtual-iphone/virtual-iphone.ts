import type { ByteStream } from '../core/byte-stream.ts';
import { VirtualDevicePorts } from './virtual-device.ts';

/** Handles one connection to a started service (device end of the stream). */
export type ServiceHandler = (stream: ByteStream) => void;

export interface VirtualIPhoneOptions {
  /** Defaults to a fixed new-style UDID so tests and demo mode are reproducible. */
  udid?: string;
  /** USB product id reported to hosts (0x12A8 = iPhone). */
  productId?: number;
}

/**
 * The composition root of the simulated device: its port table, its lockdownd and the services
 * lockdownd can start. Transports (fake WebUSB device, usbmuxd socket front) only see `ports`.
 */
export class VirtualIPhone {
  readonly ports = new VirtualDevicePorts();
  readonly udid: string;
  readonly productId: number;
  /** Service name → handler; lockdownd's StartService looks services up here. */
  readonly services = new Map<string, ServiceHandler>();

  constructor(options: VirtualIPhoneOptions = {}) {
    this.udid = options.udid ?? '00008030-001A2B3C4D5E802E';
    this.productId = options.productId ?? 0x12a8;
  }

  registerService(name: string, handler: ServiceHandler): void {
    this.services.set(name, handler);
  }
}
