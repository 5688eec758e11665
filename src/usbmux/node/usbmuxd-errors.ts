import { LifeboatError } from '../../core/errors.ts';

/** Nothing answers at the usbmuxd address: the daemon is not running, or the variable points elsewhere. */
export class UsbmuxdUnavailableError extends LifeboatError {
  readonly address: string;
  constructor(address: string, cause?: unknown) {
    const why = (cause as NodeJS.ErrnoException | undefined)?.code;
    super('device-disconnected', `usbmuxd is not running at ${address}${why ? ` (${why})` : ''}.`, {
      action:
        'Start usbmuxd (it runs while an iPhone is plugged in), or point USBMUXD_SOCKET_ADDRESS at another socket, ' +
        'e.g. start the simulator with `npm run virtual-iphone -- --usbmuxd UNIX:/tmp/virtual-iphone.sock` and run ' +
        'with USBMUXD_SOCKET_ADDRESS=UNIX:/tmp/virtual-iphone.sock.',
      cause,
    });
    this.address = address;
  }
}

/** usbmuxd answered a request with a Result code this client has no better error for. */
export class UsbmuxdRequestError extends LifeboatError {
  readonly request: string;
  readonly result: number;
  constructor(request: string, result: number) {
    super('device-error', `usbmuxd refused ${request} (result ${result}).`);
    this.request = request;
    this.result = result;
  }
}
