import { LifeboatError } from '../core/errors.ts';

/** A write on a mux connection the device (or we) already closed. */
export class MuxConnectionClosedError extends LifeboatError {
  constructor(port: number, detail = 'closed') {
    super('device-error', `The connection to device port ${port} is ${detail}.`);
  }
}
