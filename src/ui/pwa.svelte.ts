import { Workbox } from 'workbox-window';

/** Service-worker state for the update prompt: offline-ready and "a new version is waiting". */
export const pwa = $state({ updateWaiting: false, offlineReady: false });
let workbox: Workbox | undefined;

export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  workbox = new Workbox(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL });
  workbox.addEventListener('waiting', () => (pwa.updateWaiting = true));
  workbox.addEventListener('controlling', (event) => {
    if (event.isUpdate) window.location.reload();
  });
  workbox.addEventListener('activated', (event) => {
    if (!event.isUpdate) pwa.offlineReady = true;
  });
  void workbox.register();
}

/** The person accepted the update: activate the waiting worker, then reload on `controlling`. */
export function applyUpdate(): void {
  workbox?.messageSkipWaiting();
}
