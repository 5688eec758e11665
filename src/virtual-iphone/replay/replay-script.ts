import type { TraceEvent, TraceSession } from '../../diagnostics/trace-format.ts';
import { ReplayError } from './replay-errors.ts';

/** What happens on one connection, in order, from the device's point of view. */
export type ScriptStep = Exclude<TraceEvent, { kind: 'open' | 'device' | 'usb' | 'mux' | 'error' | 'note' | 'truncated' }>;

export interface ConnectionScript {
  /** "connection 3 (com.apple.mobilebackup2) of session 2" */
  readonly label: string;
  readonly port: number;
  readonly service: string;
  readonly tls: boolean;
  readonly steps: ScriptStep[];
  /** Trace line of each step. */
  readonly lines: number[];
}

export interface ReplayScript {
  readonly udid: string;
  readonly productId: number;
  /** Per device port, the recorded connections in the order the host opened them. */
  readonly byPort: Map<number, ConnectionScript[]>;
}

/** Splits recorded sessions into per-connection scripts; sessions replay one after the other. */
export function buildReplayScript(sessions: readonly TraceSession[]): ReplayScript {
  let udid: string | undefined;
  let productId = 0x12a8;
  const byPort = new Map<number, ConnectionScript[]>();
  sessions.forEach((session, s) => {
    const open = new Map<number, ConnectionScript>();
    session.events.forEach((event, i) => {
      const line = session.lines[i]!;
      if (event.kind === 'device') {
        if (udid !== undefined && udid !== event.udid) throw new ReplayError(`The trace holds sessions of two devices (${udid} and ${event.udid}); replay one device at a time.`);
        udid = event.udid;
        productId = event.productId;
        return;
      }
      if (event.kind === 'open') {
        const script: ConnectionScript = {
          label: `connection ${event.conn} (${event.service}) of session ${s + 1}`,
          port: event.port,
          service: event.service,
          tls: event.tls === true,
          steps: [],
          lines: [],
        };
        open.set(event.conn, script);
        const list = byPort.get(event.port) ?? [];
        list.push(script);
        byPort.set(event.port, list);
        return;
      }
      if (!('conn' in event)) return;
      const script = open.get(event.conn);
      if (!script) throw new ReplayError(`Trace line ${line} belongs to connection ${event.conn}, which the trace never opened.`);
      script.steps.push(event as ScriptStep);
      script.lines.push(line);
    });
  });
  if (udid === undefined) throw new ReplayError('The trace names no device (no "device" event): it was not recorded by a Lifeboat host.');
  return { udid, productId, byPort };
}
