/**
 * The demo's "Model from a URL…" entry: what a typed URL must be before anything is fetched. The
 * text is hostile (pasted from anywhere), so only https, or plain http to this page's own origin
 * or to the local machine, is downloaded; every other scheme (javascript:, file:, data:, blob:…)
 * is refused without a request.
 */
import { InvalidModelUrlError } from '../errors.ts';

/** Longer than any real model URL (Hugging Face's signed ones included); refused unparsed. */
export const MAX_MODEL_URL_CHARS = 2048;

/** Hosts that are this machine: plain http to them never crosses a network. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Validates a model URL typed by the user and returns it absolute (resolved against `pageUrl`,
 * fragment dropped: the store keys a download by its URL). Throws InvalidModelUrlError saying why.
 */
export function modelUrl(input: string, pageUrl: string): string {
  const text = typeof input === 'string' ? input.trim() : '';
  if (!text) throw new InvalidModelUrlError('no URL: give the address of a .gguf file, e.g. https://host/model.gguf');
  if (text.length > MAX_MODEL_URL_CHARS) {
    throw new InvalidModelUrlError(`the URL is ${text.length} characters long; at most ${MAX_MODEL_URL_CHARS} are accepted`);
  }
  const shown = JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
  let url: URL;
  let page: URL;
  try {
    page = new URL(pageUrl);
    url = new URL(text, page);
  } catch {
    throw new InvalidModelUrlError(`${shown} is not a URL`);
  }
  const sameOrigin = url.origin === page.origin;
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (sameOrigin || LOOPBACK_HOSTS.has(url.hostname)))) {
    throw new InvalidModelUrlError(
      url.protocol === 'http:'
        ? `${shown} is plain http: models download over https (plain http only from this site or localhost)`
        : `${shown} is a ${url.protocol} URL: models download over https only`,
    );
  }
  if (url.username || url.password) throw new InvalidModelUrlError(`${shown} carries a user name or password`);
  let fileName: string;
  try {
    fileName = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  } catch {
    throw new InvalidModelUrlError(`${shown} has a malformed path`);
  }
  if (!/\.gguf$/i.test(fileName)) throw new InvalidModelUrlError(`${shown} does not name a .gguf file`);
  url.hash = '';
  return url.href;
}
