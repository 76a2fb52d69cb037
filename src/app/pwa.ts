/**
 * Registers the service worker vite-plugin-pwa generates (production builds only). It precaches
 * the app shell (HTML, JS, CSS, icons, manifest) so the demo reloads with the network off; model
 * files are never precached: they live in the model store (IndexedDB).
 *
 * Updates wait: a new version is installed in the background and takes over only when the user
 * reloads through the prompt. Switching open tabs over at once would delete the old version's
 * precache under them, and a tab that then loads a lazy chunk of the old version would fail.
 */
import { Workbox } from 'workbox-window';
import './update-prompt.ts';

/** Shows the update prompt once; `reload` runs when the user accepts. */
function promptForReload(reload: () => void): void {
  if (document.querySelector('lowbit-update-prompt')) return;
  const prompt = document.createElement('lowbit-update-prompt');
  prompt.addEventListener('reload-app', () => {
    prompt.remove();
    reload();
  });
  document.body.append(prompt);
}

export async function registerServiceWorker(): Promise<ServiceWorkerRegistration | undefined> {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return undefined;
  const base = import.meta.env.BASE_URL;
  const wb = new Workbox(`${base}sw.js`, { scope: base, type: 'classic' });
  let registration: ServiceWorkerRegistration | undefined;
  let accepted = false;
  let reloading = false;
  const reload = () => {
    if (reloading) return;
    reloading = true;
    location.reload();
  };
  // A new version is installed and waits for this page (and any other open tab) to let it in.
  wb.addEventListener('waiting', () =>
    promptForReload(() => {
      accepted = true;
      // Another tab may have let it in already.
      if (registration?.waiting) wb.messageSkipWaiting();
      else reload();
    }),
  );
  // The new version took over. If this page did not ask for it (another tab did), it still runs
  // the old version, whose files are no longer cached: it should reload too, when the user is ready.
  const hadController = navigator.serviceWorker.controller !== null;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (accepted) reload();
    else if (hadController) promptForReload(reload);
  });
  try {
    registration = await wb.register();
    return registration;
  } catch (err) {
    // No service worker (private mode, blocked by policy): the app still works online.
    console.warn('service worker registration failed:', err);
    return undefined;
  }
}
