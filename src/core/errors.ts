/**
 * One error hierarchy: every error a person can meet carries a stable code (the UI maps codes to
 * screens, never parses messages), a user-facing message and, where one exists, a suggested action.
 */
export type ErrorCode =
  | 'device-busy'
  | 'device-disconnected'
  | 'device-locked'
  | 'pairing-denied'
  | 'pairing-pending'
  | 'pairing-invalid'
  | 'passcode-not-entered'
  | 'find-my-enabled'
  | 'insufficient-space'
  | 'wrong-password'
  | 'corrupt-backup'
  | 'connection-refused'
  | 'protocol'
  | 'plist'
  | 'tls'
  | 'unsupported'
  | 'cancelled'
  | 'timeout'
  | 'device-error'
  | 'storage';

export class LifeboatError extends Error {
  readonly code: ErrorCode;
  /** What the person can do about it, phrased for them. */
  readonly action: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { action?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.action = options?.action;
  }
}

/** A peer sent bytes that break the protocol; `layer` and `bytes` are for the log, not the person. */
export class ProtocolError extends LifeboatError {
  readonly layer: string;
  readonly bytes: Uint8Array | undefined;
  constructor(layer: string, message: string, bytes?: Uint8Array, cause?: unknown) {
    super('protocol', `${layer}: ${message}`, { cause });
    this.layer = layer;
    this.bytes = bytes;
  }
}

export class DeviceDisconnectedError extends LifeboatError {
  constructor(message = 'The device was disconnected.', cause?: unknown) {
    super('device-disconnected', message, { action: 'Reconnect the cable and try again.', cause });
  }
}

export class DeviceBusyError extends LifeboatError {
  constructor(message: string, action: string, cause?: unknown) {
    super('device-busy', message, { action, cause });
  }
}

/** Nothing listens on that device port (the mux answered the SYN with RST, or usbmuxd said CONNREFUSED). */
export class ConnectionRefusedError extends LifeboatError {
  readonly port: number;
  constructor(port: number, detail?: string) {
    super('connection-refused', `The device refused a connection to port ${port}${detail ? ` (${detail})` : ''}.`);
    this.port = port;
  }
}

export class DeviceLockedError extends LifeboatError {
  constructor(message = 'The device is locked.') {
    super('device-locked', message, { action: 'Unlock your iPhone, then try again.' });
  }
}

export class PairingDeniedError extends LifeboatError {
  constructor() {
    super('pairing-denied', 'You tapped “Don’t Trust” on the device.', {
      action: 'Unplug and reconnect the device, then tap Trust and enter your passcode.',
    });
  }
}

export class PasscodeNotEnteredError extends LifeboatError {
  constructor() {
    super('passcode-not-entered', 'The passcode was not entered on the device in time (device error 208).', {
      action: 'Start again and enter your passcode on the iPhone when it asks.',
    });
  }
}

export class FindMyEnabledError extends LifeboatError {
  constructor() {
    super('find-my-enabled', 'Find My is turned on, so the device refuses to be restored (device error 211).', {
      action: 'On the iPhone open Settings → [your name] → Find My → Find My iPhone and turn it off, then try again.',
    });
  }
}

export class InsufficientSpaceError extends LifeboatError {
  constructor(message = 'There is not enough free space (device error 105).', action = 'Free up space and try again.') {
    super('insufficient-space', message, { action });
  }
}

export class WrongPasswordError extends LifeboatError {
  constructor(message = 'The backup password is wrong.') {
    super('wrong-password', message, { action: 'Check the password and try again.' });
  }
}

export class CorruptBackupError extends LifeboatError {
  constructor(message: string, cause?: unknown) {
    super('corrupt-backup', message, { cause });
  }
}

export class CancelledError extends LifeboatError {
  constructor(message = 'Cancelled.') {
    super('cancelled', message);
  }
}

export class TimeoutError extends LifeboatError {
  constructor(message: string) {
    super('timeout', message);
  }
}
