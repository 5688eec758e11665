import { DeviceLockedError, LifeboatError, PairingDeniedError } from '../core/errors.ts';

/**
 * lockdownd answers failures with an `Error` string. Each string a host can meet maps to a typed
 * error here so callers branch on classes/codes, never on strings.
 */

/** A lockdown failure with no more specific class; `lockdownError` is the device's string. */
export class LockdownError extends LifeboatError {
  constructor(
    readonly lockdownError: string,
    readonly request: string,
    message?: string,
    action?: string,
  ) {
    super('device-error', message ?? `The device refused ${request}: ${lockdownError}.`, action === undefined ? undefined : { action });
  }
}

/** The device no longer trusts this computer (trust reset, or a stale pair record). */
export class PairingInvalidError extends LifeboatError {
  constructor(
    readonly lockdownError: string,
    detail = 'The iPhone no longer trusts this computer.',
    cause?: unknown,
  ) {
    super('pairing-invalid', detail, {
      action: 'Pair again: unlock the iPhone, reconnect it, tap Trust and enter your passcode.',
      cause,
    });
  }
}

/** The session dropped (SessionInactive, InvalidConnection): reconnect and start a new session. */
export class SessionInactiveError extends LockdownError {
  constructor(lockdownError: string, request: string) {
    super(lockdownError, request, 'The connection to the device’s lockdown service was reset.', 'Try again.');
  }
}

/** StartService failed: unknown service, blocked by policy, or too many running. */
export class ServiceUnavailableError extends LockdownError {
  constructor(lockdownError: string, readonly service: string) {
    const why =
      lockdownError === 'InvalidService'
        ? 'is not available on this device'
        : lockdownError === 'ServiceProhibited'
          ? 'is blocked on this device (for example by a device-management profile)'
          : 'could not be started because too many services are running';
    super(lockdownError, 'StartService', `The device service ${service} ${why}.`, 'Restart the iPhone and try again.');
  }
}

/** GetValue/SetValue/RemoveValue: the key is absent or not allowed right now. */
export class ValueUnavailableError extends LockdownError {
  constructor(lockdownError: string, request: string, readonly domain: string | undefined, readonly key: string | undefined) {
    super(lockdownError, request, `The device would not ${request === 'GetValue' ? 'report' : 'change'} ${[domain, key].filter(Boolean).join(' ') || 'its values'} (${lockdownError}).`);
  }
}

/** The device state forbids the operation: activation, Find My, MDM. */
export class DevicePolicyError extends LockdownError {}

/** Pair was answered with PairingDialogResponsePending; internal to the polling loop. */
export class PairingPendingError extends LifeboatError {
  constructor() {
    super('pairing-pending', 'Waiting for you to tap Trust on the iPhone.', { action: 'Tap Trust on your iPhone and enter your passcode.' });
  }
}

export interface LockdownErrorContext {
  request: string;
  domain?: string | undefined;
  key?: string | undefined;
  service?: string | undefined;
}

/** The typed error for a lockdown `Error` string. */
export function lockdownErrorFor(error: string, context: LockdownErrorContext): LifeboatError {
  const { request } = context;
  switch (error) {
    case 'PairingDialogResponsePending':
      return new PairingPendingError();
    case 'UserDeniedPairing':
      return new PairingDeniedError();
    case 'PasswordProtected':
      return new DeviceLockedError('The iPhone is locked with its passcode.');
    case 'EscrowLocked':
      return new DeviceLockedError('The iPhone must be unlocked before this can start.');
    case 'InvalidHostID':
      return new PairingInvalidError(error);
    case 'InvalidPairRecord':
    case 'MissingPairRecord':
    case 'SavePairRecordFailed':
      return new PairingInvalidError(error, 'The iPhone rejected this computer’s pairing information.');
    case 'SessionInactive':
    case 'InvalidConnection':
      return new SessionInactiveError(error, request);
    case 'MissingHostID':
    case 'MissingSessionID':
    case 'InvalidSessionID':
    case 'SessionActive':
    case 'NoRunningSession':
      return new SessionInactiveError(error, request);
    case 'InvalidService':
    case 'ServiceProhibited':
    case 'ServiceLimit':
      return new ServiceUnavailableError(error, context.service ?? '(unknown)');
    case 'MissingValue':
    case 'GetProhibited':
    case 'SetProhibited':
    case 'RemoveProhibited':
      return new ValueUnavailableError(error, request, context.domain, context.key);
    case 'PairingProhibitedOverThisConnection':
      return new LockdownError(error, request, 'The iPhone only pairs over a USB cable.', 'Connect the iPhone with a USB cable.');
    case 'MCChallengeRequired':
      return new DevicePolicyError(error, request, 'This iPhone is supervised and only pairs with its organisation’s computers.', 'Ask the organisation that manages this iPhone.');
    case 'FMiPProtected':
      return new DevicePolicyError(error, request, 'Find My is protecting this iPhone.', 'Turn off Find My on the iPhone and try again.');
    case 'MCProtected':
      return new DevicePolicyError(error, request, 'A device-management profile blocks this.', 'Ask the organisation that manages this iPhone.');
    case 'InvalidActivationRecord':
    case 'MissingActivationRecord':
      return new DevicePolicyError(error, request, 'The iPhone is not activated.', 'Finish setting up the iPhone, then try again.');
    default:
      return new LockdownError(error, request);
  }
}
