// Page half of the OPFS backup bench: starts the dedicated worker (sync access handles exist only
// there) and publishes what it reports for the Node harness.
import type { BackupBenchOutcome, BenchRequest, DeviceWorkerRequest } from './protocol.ts';

function start(): void {
  const params = new URLSearchParams(location.search);
  const request: BenchRequest = {
    dataset: params.get('dataset') === 'small-files' ? 'small-files' : params.get('dataset') === 'huge' ? 'huge' : 'large-files',
    runs: Number(params.get('runs') ?? 3),
    profile: params.has('profile'),
    discard: params.has('discard'),
    folderStore: params.get('store') === 'folder',
  };
  const worker = new Worker(new URL('./backup-worker.ts', import.meta.url), { type: 'module' });
  let device: Worker | undefined;
  if (params.get('layout') === 'two-workers') {
    device = new Worker(new URL('./device-worker.ts', import.meta.url), { type: 'module' });
    const channel = new MessageChannel();
    const transfer: Transferable[] = [channel.port2];
    const toDevice: DeviceWorkerRequest = { dataset: request.dataset, port: channel.port2 };
    if (request.dataset === 'huge') {
      const control = new MessageChannel();
      toDevice.scale = request.scale = Number(params.get('scale') ?? 1);
      if (params.has('password')) toDevice.password = request.password = params.get('password')!;
      toDevice.controlPort = control.port2;
      request.controlPort = control.port1;
      transfer.push(control.port2);
    }
    device.postMessage(toDevice, transfer);
    request.devicePort = channel.port1;
  }
  worker.addEventListener('message', (event: MessageEvent<BackupBenchOutcome>) => {
    window.__backupBenchOutcome = event.data;
    // `keep` leaves the worker alive for a profiler attached to it.
    if (!params.has('keep')) {
      worker.terminate();
      device?.terminate();
    }
  });
  worker.addEventListener('error', (event) => {
    window.__backupBenchOutcome = { error: `worker error: ${event.message}` };
  });
  worker.postMessage(request, [request.devicePort, request.controlPort].filter((p): p is MessagePort => p !== undefined));
}

start();
