import { LifeboatError } from '../core/errors.ts';

/** TLS alert descriptions we send or name (RFC 5246 §7.2, RFC 5746, RFC 7301). */
export const Alert = {
  closeNotify: 0,
  unexpectedMessage: 10,
  badRecordMac: 20,
  recordOverflow: 22,
  handshakeFailure: 40,
  badCertificate: 42,
  unsupportedCertificate: 43,
  certificateUnknown: 46,
  illegalParameter: 47,
  accessDenied: 49,
  decodeError: 50,
  decryptError: 51,
  protocolVersion: 70,
  insufficientSecurity: 71,
  internalError: 80,
  userCanceled: 90,
  noRenegotiation: 100,
  unsupportedExtension: 110,
  certificateRequired: 116,
} as const;

const ALERT_NAMES = new Map<number, string>([
  [0, 'close_notify'],
  [10, 'unexpected_message'],
  [20, 'bad_record_mac'],
  [21, 'decryption_failed'],
  [22, 'record_overflow'],
  [30, 'decompression_failure'],
  [40, 'handshake_failure'],
  [42, 'bad_certificate'],
  [43, 'unsupported_certificate'],
  [44, 'certificate_revoked'],
  [45, 'certificate_expired'],
  [46, 'certificate_unknown'],
  [47, 'illegal_parameter'],
  [48, 'unknown_ca'],
  [49, 'access_denied'],
  [50, 'decode_error'],
  [51, 'decrypt_error'],
  [70, 'protocol_version'],
  [71, 'insufficient_security'],
  [80, 'internal_error'],
  [86, 'inappropriate_fallback'],
  [90, 'user_canceled'],
  [100, 'no_renegotiation'],
  [109, 'missing_extension'],
  [110, 'unsupported_extension'],
  [112, 'unrecognized_name'],
  [116, 'certificate_required'],
]);

export function alertName(description: number): string {
  return ALERT_NAMES.get(description) ?? `alert ${description}`;
}

/**
 * A TLS session failed. `alert` is the alert description involved (the one we sent, or the one the
 * peer sent when `fromPeer`); absent for transport failures such as EOF mid-handshake.
 */
export class TlsError extends LifeboatError {
  readonly alert: number | undefined;
  readonly fromPeer: boolean;

  constructor(message: string, options?: { alert?: number; fromPeer?: boolean; cause?: unknown }) {
    super('tls', message, {
      cause: options?.cause,
      action: 'Reconnect the device and try again. If it keeps failing, remove the pairing and pair again.',
    });
    this.alert = options?.alert;
    this.fromPeer = options?.fromPeer ?? false;
  }
}

/** Our own fatal failure: the message for the person, the alert for the peer. */
export function fatal(alert: number, message: string, cause?: unknown): TlsError {
  return new TlsError(`TLS: ${message} (${alertName(alert)})`, { alert, cause });
}
