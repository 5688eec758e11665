import { LifeboatError } from '../core/errors.ts';

/** A property list could not be decoded or encoded: malformed, hostile or unsupported input. */
export class PlistError extends LifeboatError {
  constructor(message: string, cause?: unknown) {
    super('plist', `Property list: ${message}`, { cause });
  }
}
