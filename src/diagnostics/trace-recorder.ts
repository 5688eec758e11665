import { LifeboatError } from '../core/errors.ts';
import { Redactor } from './redact.ts';
import { TRACE_FORMAT, TRACE_VERSION, formatTrace, type TraceEvent, type TraceHeader } from './trace-format.ts';

/** Distributes Omit over the event union, so each kind keeps its own fields. */
export type TraceEventInput = TraceEvent extends infer E ? (E extends TraceEvent ? Omit<E, 't'> : never) : never;

export interface TraceRecorderOptions {
  /** "lifeboat-cli 0.1.0" or "Lifeboat web 0.1.0". */
  app: string;
  runtime: string;
  os: string;
  /** Most events kept; beyond it the oldest file/data events are not kept (a marker says how many). Default 200,000. */
  maxEvents?: number;
}

/**
 * A diagnostics session: bounded, append-only events with timestamps, redacted as they arrive (raw
 * values are never stored). One recorder per session; taps (stream-tap.ts) feed it.
 */
export class TraceRecorder {
  readonly redactor = new Redactor();
  private readonly events: TraceEvent[] = [];
  private readonly header: TraceHeader;
  private readonly started = performance.now();
  private readonly maxEvents: number;
  private dropped = 0;
  private nextConnection = 1;

  constructor(options: TraceRecorderOptions) {
    this.header = {
      kind: 'trace',
      format: TRACE_FORMAT,
      version: TRACE_VERSION,
      started: new Date().toISOString(),
      app: options.app,
      runtime: options.runtime,
      os: options.os,
    };
    this.maxEvents = options.maxEvents ?? 200_000;
  }

  /** A fresh connection number for a tap. */
  connectionId(): number {
    return this.nextConnection++;
  }

  add(event: TraceEventInput): void {
    if (this.events.length >= this.maxEvents) {
      this.dropped++;
      return;
    }
    this.events.push({ ...event, t: Math.round((performance.now() - this.started) * 10) / 10 } as TraceEvent);
  }

  /** Any error, with its code and stack; identifiers in its text are hashed like everywhere else. */
  error(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    const code = error instanceof LifeboatError ? error.code : e.name;
    this.add({ kind: 'error', code, message: this.redactor.text(e.message), ...(e.stack ? { stack: this.redactor.text(e.stack) } : {}) });
  }

  note(text: string): void {
    this.add({ kind: 'note', text: this.redactor.text(text) });
  }

  get eventCount(): number {
    return this.events.length;
  }

  /** The whole trace as JSON lines (what the person reads and sends). */
  text(): string {
    const tail: TraceEvent[] = this.dropped > 0 ? [{ kind: 'truncated', t: 0, dropped: this.dropped }] : [];
    return formatTrace(this.header, [...this.events, ...tail]);
  }
}
