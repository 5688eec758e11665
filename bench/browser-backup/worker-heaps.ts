// Peak JS heap of each dedicated worker of a Chromium page, sampled over the DevTools protocol.
// Workers have no performance.memory, so this attaches the way DevTools does: browser-level
// auto-attach to pages, then page-level auto-attach to their workers, polling Runtime.getHeapUsage.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';

export interface WorkerHeapPeak {
  /** The worker script's file name. */
  worker: string;
  /** What the page was doing ('backup' until the first mark). */
  phase: string;
  /** Bytes of live objects at the fullest sample. */
  usedBytes: number;
  /** Bytes the heap held from the OS (what its process pays). */
  totalBytes: number;
  /**
   * Bytes of objects still reachable just after a forced collection (`usedBytes` counts garbage
   * not yet collected too); sampled every few seconds, only when asked for (it slows the worker).
   */
  liveBytes?: number;
}

interface CdpMessage {
  id?: number;
  method?: string;
  sessionId?: string;
  params?: { sessionId?: string; targetInfo?: { type: string; url: string } };
  result?: { usedSize?: number; totalSize?: number; profile?: unknown };
}

export interface WorkerHeapWatch {
  mark(phase: string): void;
  /** Starts sampling every worker's CPU (1 ms): to see where a stretch of a run goes. */
  startProfiles(): Promise<void>;
  /** Ends that and writes one `<worker>-<n>.cpuprofile` (DevTools format) per worker into `dir`. */
  stopProfiles(dir: string): Promise<string[]>;
  stop(): Promise<WorkerHeapPeak[]>;
}

/** Needs Chromium started with `--remote-debugging-port=0` on `profileDir` (the port is written there). */
export async function watchWorkerHeaps(profileDir: string, intervalMs = 250, liveEvery = 0, traceEvery = 0): Promise<WorkerHeapWatch> {
  let port = 0;
  for (let waited = 0; port === 0; waited += 50) {
    try {
      port = Number(readFileSync(join(profileDir, 'DevToolsActivePort'), 'utf8').split('\n')[0]);
    } catch {
      if (waited > 10_000) throw new Error('Chromium did not open its DevTools port');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const version = (await (await fetch(`http://127.0.0.1:${port}/json/version`)).json()) as { webSocketDebuggerUrl: string };
  const ws = new WebSocket(version.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, (m: CdpMessage) => void>();
  const send = (method: string, params: object = {}, sessionId?: string): Promise<CdpMessage> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  const workers = new Map<string, WorkerHeapPeak>(); // by session, for the current phase
  const finished: WorkerHeapPeak[] = []; // peaks of earlier phases
  let phase = 'backup';
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as CdpMessage;
    if (m.id !== undefined) {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
      return;
    }
    if (m.method === 'Target.attachedToTarget' && m.params?.sessionId && m.params.targetInfo) {
      const { type, url } = m.params.targetInfo;
      if (type === 'page') void send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true }, m.params.sessionId);
      if (type === 'worker') workers.set(m.params.sessionId, { worker: url.split('/').pop() ?? url, phase, usedBytes: 0, totalBytes: 0 });
    }
  });
  await send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true });
  let stopped = false;
  let round = 0;
  const sampling = (async () => {
    while (!stopped) {
      round++;
      const live = liveEvery > 0 && round % liveEvery === 0;
      await Promise.all(
        [...workers].map(async ([session, peak]) => {
          if (live) {
            await send('HeapProfiler.collectGarbage', {}, session);
            const after = await send('Runtime.getHeapUsage', {}, session);
            peak.liveBytes = Math.max(peak.liveBytes ?? 0, after.result?.usedSize ?? 0);
          }
          const r = await send('Runtime.getHeapUsage', {}, session);
          peak.usedBytes = Math.max(peak.usedBytes, r.result?.usedSize ?? 0);
          peak.totalBytes = Math.max(peak.totalBytes, r.result?.totalSize ?? 0);
          // Interleaved with the page's own lines, so a peak can be placed in the run.
          if (traceEvery > 0 && round % traceEvery === 0) {
            console.log(`  heap ${peak.worker.slice(0, 13)}: used ${((r.result?.usedSize ?? 0) / 1e6).toFixed(0)} MB, total ${((r.result?.totalSize ?? 0) / 1e6).toFixed(0)} MB`);
          }
        }),
      );
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    mark(next: string) {
      // Peaks so far belong to the phase that ends; each worker starts afresh for the next one.
      for (const [session, peak] of workers) {
        finished.push({ ...peak });
        workers.set(session, { worker: peak.worker, phase: next, usedBytes: 0, totalBytes: 0 });
      }
      phase = next;
    },
    async startProfiles() {
      for (const session of workers.keys()) {
        await send('Profiler.enable', {}, session);
        await send('Profiler.setSamplingInterval', { interval: 1000 }, session);
        await send('Profiler.start', {}, session);
      }
    },
    async stopProfiles(dir: string) {
      const written: string[] = [];
      let n = 0;
      for (const [session, peak] of workers) {
        const stopped = await send('Profiler.stop', {}, session);
        if (!stopped.result?.profile) continue;
        const file = join(dir, `${peak.worker.replace(/\W+/g, '-')}-${++n}.cpuprofile`);
        writeFileSync(file, JSON.stringify(stopped.result.profile));
        written.push(file);
      }
      return written;
    },
    async stop() {
      stopped = true;
      // A worker that ended never answers its last poll: do not wait for it.
      await Promise.race([sampling, new Promise((r) => setTimeout(r, 2000))]);
      ws.close();
      return [...finished, ...workers.values()];
    },
  };
}
