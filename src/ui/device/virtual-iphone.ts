// Placeholder replaced when the virtual iPhone worker lands.
export function startVirtualIPhone(): { port: MessagePort; stop(): void } {
  const worker = new Worker(new URL('../../../workers/virtual-iphone.worker.ts', import.meta.url), { type: 'module', name: 'virtual-iphone' });
  const channel = new MessageChannel();
  worker.postMessage({ type: 'connect', port: channel.port1 }, [channel.port1]);
  return { port: channel.port2, stop: () => worker.terminate() };
}
