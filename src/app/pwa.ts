/**
 * Registers the service worker vite-plugin-pwa generates (production builds only). It precaches
 * the app shell (HTML, JS, CSS, icons, manifest) so the demo reloads with the network off; model
 * files are never precached: they live in the model store (IndexedDB).
 */
import { Workbox } from 'workbox-window';

export async function registerServiceWorker(): Promise<ServiceWorkerRegistration | undefined> {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return undefined;
  const base = import.meta.env.BASE_URL;
  const wb = new Workbox(`${base}sw.js`, { scope: base, type: 'classic' });
  try {
    return await wb.register();
  } catch (err) {
    // No service worker (private mode, blocked by policy): the app still works online.
    console.warn('service worker registration failed:', err);
    return undefined;
  }
}
