import { LifeboatError } from '../../core/errors.ts';

/**
 * The host departed from the recorded session: it sent something other than what the trace's device
 * received at that point. Names the first differing message, what was expected and where in the trace.
 */
export class ReplayMismatchError extends LifeboatError {
  constructor(
    readonly expected: string,
    readonly got: string,
    readonly messageIndex: number,
    readonly connection: string,
    readonly traceLine: number | undefined,
  ) {
    super(
      'protocol',
      `Replay: host sent ${got} as message ${messageIndex} on ${connection}; the trace's device expected ${expected}` +
        (traceLine !== undefined ? ` (trace line ${traceLine}).` : '.'),
      { action: 'The host changed what it says to the device: compare the trace with this host, or record a new trace.' },
    );
  }
}

/** The trace cannot be served as it is (no device facts, a session without pairing…). */
export class ReplayError extends LifeboatError {
  constructor(message: string) {
    super('unsupported', message, { action: 'Record the trace again with `--trace FILE`, starting from `pair`.' });
  }
}
