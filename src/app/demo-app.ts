/**
 * <lowbit-demo>: the demo page. A model picker (catalogue with sizes and a fit check before big
 * downloads, a .gguf from disk by file input or drag and drop, a .gguf by URL pulled into the
 * store, or a remote OpenAI-compatible server), the cached-models panel, and <llm-chat> filling the rest. One engine worker serves both
 * the chat and the model manager.
 */
import { LitElement, html, nothing } from 'lit';
import { query, state } from 'lit/decorators.js';
import type { DeviceProbe } from '../engine/protocol.ts';
import type { CachedModel, ModelInfo, ModelSource } from '../engine/types.ts';
import type { EngineWorker } from '../engine/worker-client.ts';
import { defineLlmChat, type LlmChat, type LlmReadyDetail } from '../ui/llm-chat.ts';
import { formatBytes } from '../format.ts';
import { spawnEngineWorker } from '../ui/spawn-worker.ts';
import { endpointUrl } from '../engine/remote.ts';
import { modelUrl } from './model-url.ts';
import { CATALOGUE, entryUrl, findEntry, type CatalogueEntry } from './catalogue.ts';
import { demoAppStyles } from './demo-app.styles.ts';
import { LAST_MODEL_KEY, type LastModelChoice } from './last-model.ts';
import { assessFit, type FitWarning } from './fit.ts';
import './model-cache-panel.ts';
import type { StorageInfo } from './model-cache-panel.ts';

defineLlmChat();

/** The last remote server's URL and model name, to fill the form in again (never its API key). */
const REMOTE_SERVER_KEY = 'lowbit.remoteServer';
/** The picker value of the remote server entry. */
const REMOTE = 'remote';
/** The picker value of "Model from a URL…" (and of the URL being pulled, until it is in the store). */
const OPEN_URL = 'url';

interface RemoteDraft {
  endpoint: string;
  model: string;
  /** Kept in this page's memory only: never stored, never put in the DOM. */
  apiKey: string;
}

type Choice = LastModelChoice;

const STORY_PROMPTS = [
  'Once upon a time, there was a little dog named',
  'Lily and Ben went to the park. They saw',
  'The big red ball rolled down the hill and',
];

/** The store names a downloaded model after the last segment of its URL. */
function urlFileName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    return '';
  }
}

export class DemoApp extends LitElement {
  static override styles = demoAppStyles;

  @state() private cached: CachedModel[] = [];
  @state() private storage: StorageInfo = {};
  @state() private probe: DeviceProbe | undefined;
  /** What the picker shows: the loaded model, or one chosen but not loaded yet (see Load). */
  @state() private choiceValue = '';
  /** The picker value of the model that runs ('' none, 'file' a file from disk). */
  @state() private loadedKey = '';
  /** The name of the file from disk that runs, for the picker. */
  @state() private loadedFileName = '';
  /** The picker value being loaded, while <llm-chat> loads it. */
  @state() private loadingKey = '';
  @state() private pending: { label: string; bytes: number; source: ModelSource; warnings: FitWarning[]; choice: Choice } | null = null;
  @state() private showCache = false;
  @state() private dragging = false;
  @state() private info: ModelInfo | null = null;
  @state() private activeStoredId: string | null = null;
  @state() private storyModel = false;
  /** The "Remote server…" form is open. */
  @state() private remoteFormOpen = false;
  @state() private remoteDraft: RemoteDraft = { endpoint: '', model: '', apiKey: '' };
  /** Why the form's URL cannot be used, shown under it. */
  @state() private remoteProblem = '';
  /** The server replies come from, once connected (the picker names it). */
  @state() private remoteServer: { endpoint: string; model: string } | null = null;
  /** The "Model from a URL…" form is open. */
  @state() private urlFormOpen = false;
  @state() private urlDraft = '';
  /** Why the typed model URL is refused, shown under it. */
  @state() private urlProblem = '';

  @query('llm-chat') private chat!: LlmChat;
  @query('input[type=file]') private fileInput!: HTMLInputElement;
  @query('select') private picker!: HTMLSelectElement;

  /** False until the first model is chosen (the store listing comes first): <llm-chat> is idle then, but not for the user. */
  @state() private started = false;
  /** The user chose something in the picker (or opened a file) before the first model was picked for them. */
  private userPicked = false;

  /** The engine worker; set before the element is connected to use another (tests use a fake). */
  worker: EngineWorker | null = null;
  private dragDepth = 0;
  /** Watches <llm-chat>'s state attribute: a cancelled or failed load puts the picker back. */
  private chatStateObserver = new MutationObserver(() => this.onChatState());

  override connectedCallback(): void {
    super.connectedCallback();
    this.worker ??= spawnEngineWorker();
    this.addEventListener('dragenter', this.onDragEnter);
    this.addEventListener('dragover', this.onDragOver);
    this.addEventListener('dragleave', this.onDragLeave);
    this.addEventListener('drop', this.onDrop);
    document.addEventListener('keydown', this.onDocumentKeydown);
    void this.start();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.removeEventListener('dragenter', this.onDragEnter);
    this.removeEventListener('dragover', this.onDragOver);
    this.removeEventListener('dragleave', this.onDragLeave);
    this.removeEventListener('drop', this.onDrop);
    document.removeEventListener('keydown', this.onDocumentKeydown);
    this.chatStateObserver.disconnect();
  }

  private get engineWorker(): EngineWorker {
    return (this.worker ??= spawnEngineWorker());
  }

  private async start(): Promise<void> {
    await this.updateComplete;
    this.chatStateObserver.observe(this.chat, { attributes: true, attributeFilter: ['state'] });
    this.chat.loader = (source, options) => {
      const loading = this.engineWorker.load(source, options);
      // A cancelled download ends in the worker only once what arrived is stored: list the store
      // again then, or an open cached-models panel keeps showing the download before its last part.
      loading.catch(() => {
        if (options.signal?.aborted) void this.refresh();
      });
      return loading;
    };
    this.engineWorker.probe().then(
      (p) => (this.probe = p),
      () => undefined,
    );
    await this.refresh();
    // Listing the store can take a while: a choice the user made meanwhile is not overridden.
    if (this.started || this.userPicked) return;
    // Reopen the last model when it is in the store; otherwise the bundled one (small, same origin).
    const last = this.readLastChoice();
    if (last?.kind === 'stored' && this.cached.some((m) => m.id === last.id && m.complete)) {
      this.select(last, true);
      return;
    }
    const entry = last?.kind === 'entry' ? findEntry(last.key) : undefined;
    if (entry && this.cachedFor(entry)?.complete) {
      this.select(last!, true);
      return;
    }
    this.select({ kind: 'entry', key: CATALOGUE[0].key }, true);
  }

  /** Re-reads the store listing and the storage estimate. */
  async refresh(): Promise<void> {
    try {
      this.cached = await this.engineWorker.listModels();
    } catch {
      this.cached = [];
    }
    const storage = (navigator as Navigator & { storage?: StorageManager }).storage;
    if (storage?.estimate) {
      try {
        const { usage, quota } = await storage.estimate();
        const persisted = storage.persisted ? await storage.persisted() : undefined;
        this.storage = { usage, quota, persisted };
      } catch {
        this.storage = {};
      }
    }
  }

  private cachedFor(entry: CatalogueEntry): CachedModel | undefined {
    const url = entryUrl(entry, document.baseURI);
    return this.cached.find((m) => m.url === url) ?? this.cached.find((m) => !m.url && m.id === urlFileName(url));
  }

  private readLastChoice(): Choice | null {
    try {
      const v = JSON.parse(localStorage.getItem(LAST_MODEL_KEY) ?? 'null') as Choice | null;
      return v && (v.kind === 'entry' || v.kind === 'stored') ? v : null;
    } catch {
      return null;
    }
  }

  private choiceKey(c: Choice): string {
    return c.kind === 'entry' ? `entry:${c.key}` : `stored:${c.id}`;
  }

  /** The picker value of the model a source loads. */
  private keyForSource(source: ModelSource | null): string {
    if (!source) return '';
    if (source.kind === 'file') return 'file';
    if (source.kind === 'url') {
      const entry = CATALOGUE.find((e) => entryUrl(e, document.baseURI) === source.url);
      if (entry) return `entry:${entry.key}`;
      const stored = this.cached.find((m) => m.url === source.url);
      return stored ? `stored:${stored.id}` : '';
    }
    const entry = CATALOGUE.find((e) => this.cachedFor(e)?.id === source.id);
    return entry ? `entry:${entry.key}` : `stored:${source.id}`;
  }

  private parseKey(key: string): Choice | null {
    const [kind, ...rest] = key.split(':');
    const id = rest.join(':');
    if (kind === 'entry' && findEntry(id)) return { kind: 'entry', key: id };
    if (kind === 'stored' && id) return { kind: 'stored', id };
    return null;
  }

  /** Loads a model: stored ones at once; downloads are checked against the device first. */
  private select(choice: Choice, auto = false): void {
    this.pending = null;
    this.started = true;
    this.choiceValue = this.choiceKey(choice);
    if (choice.kind === 'stored') {
      this.run({ kind: 'stored', id: choice.id }, choice);
      return;
    }
    const entry = findEntry(choice.key);
    if (!entry) return;
    const stored = this.cachedFor(entry);
    if (stored?.complete) {
      this.run({ kind: 'stored', id: stored.id }, choice);
      return;
    }
    const source: ModelSource = { kind: 'url', url: entryUrl(entry, document.baseURI), ...(entry.sha256 && { sha256: entry.sha256 }) };
    const warnings = assessFit(entry.bytes, stored?.bytesStored ?? 0, {
      probe: this.probe,
      storage: this.storage,
      deviceMemoryGB: (navigator as Navigator & { deviceMemory?: number }).deviceMemory,
    });
    if (warnings.length && !(auto && entry.bundled)) {
      this.pending = { label: `${entry.label} ${entry.quantization}`, bytes: entry.bytes, source, warnings, choice };
      void this.focusBanner();
      return;
    }
    this.run(source, choice);
  }

  /** Starts loading; the model that runs now keeps running (and shown) until this one is ready. */
  private run(source: ModelSource, choice: Choice | null, loadingKey = choice ? this.choiceKey(choice) : 'file'): void {
    this.pending = null;
    this.started = true;
    this.loadingKey = loadingKey;
    this.loadingChoice = choice;
    this.remoteFormOpen = false;
    this.urlFormOpen = false;
    // Leaving a remote server: the element runs the model in the page again.
    this.chat.endpoint = '';
    this.chat.model = '';
    this.chat.apiKey = '';
    this.chat.source = source;
  }

  /** Opens the "Remote server…" form, filled in with the last server used (its key is never kept). */
  private async openRemoteForm(): Promise<void> {
    this.pending = null;
    this.remoteProblem = '';
    if (!this.remoteDraft.endpoint) {
      try {
        const last = JSON.parse(localStorage.getItem(REMOTE_SERVER_KEY) ?? 'null') as Partial<RemoteDraft> | null;
        if (typeof last?.endpoint === 'string') this.remoteDraft = { ...this.remoteDraft, endpoint: last.endpoint };
        if (typeof last?.model === 'string') this.remoteDraft = { ...this.remoteDraft, model: last.model };
      } catch {
        // A damaged entry just leaves the form empty.
      }
    }
    this.remoteFormOpen = true;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLInputElement>('.remote-form input')?.focus();
  }

  /** Opens the "Model from a URL…" form. */
  private async openUrlForm(): Promise<void> {
    this.pending = null;
    this.remoteFormOpen = false;
    this.urlProblem = '';
    this.urlFormOpen = true;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLInputElement>('.url-form input')?.focus();
  }

  private closeUrlForm(): void {
    this.urlFormOpen = false;
    this.urlProblem = '';
    this.choiceValue = this.loadedKey;
    void this.updateComplete.then(() => this.picker?.focus());
  }

  /**
   * Pulls the typed URL into the store (progress, and resume from the cached-models panel, as for
   * catalogue entries), then loads it. A refused URL is never requested: the form says why.
   */
  private pullUrl(e: Event): void {
    e.preventDefault();
    let url: string;
    try {
      url = modelUrl(this.urlDraft, document.baseURI);
    } catch (err) {
      this.urlProblem = (err as Error).message;
      return;
    }
    this.urlProblem = '';
    this.run({ kind: 'url', url }, null, OPEN_URL);
  }

  private closeRemoteForm(): void {
    this.remoteFormOpen = false;
    this.remoteProblem = '';
    this.choiceValue = this.loadedKey;
    void this.updateComplete.then(() => this.picker?.focus());
  }

  /** Points <llm-chat> at the server in the form: it connects (GET /models) and then streams from it. */
  private connectRemote(e: Event): void {
    e.preventDefault();
    const { endpoint, model, apiKey } = this.remoteDraft;
    try {
      endpointUrl(endpoint);
    } catch (err) {
      this.remoteProblem = (err as Error).message;
      return;
    }
    localStorage.setItem(REMOTE_SERVER_KEY, JSON.stringify({ endpoint: endpoint.trim(), model: model.trim() }));
    this.remoteFormOpen = false;
    this.remoteProblem = '';
    this.started = true;
    this.loadingKey = REMOTE;
    this.loadingChoice = null;
    const chat = this.chat;
    const same = chat.endpoint === endpoint.trim() && chat.model === model.trim() && chat.apiKey === apiKey && this.loadedKey === REMOTE;
    chat.apiKey = apiKey;
    chat.model = model.trim();
    chat.endpoint = endpoint.trim();
    // The same server again (after an error, say): nothing changed for the element to react to.
    if (same) void chat.load();
  }

  private loadingChoice: Choice | null = null;

  /** A load ended without a new model (cancelled, failed, or the model was unloaded): the picker shows what runs. */
  private onChatState(): void {
    const state = this.chat.state;
    if (state === 'loading' || state === 'generating') return;
    this.loadingKey = '';
    if (state === 'idle') {
      this.loadedKey = '';
      this.info = null;
      this.activeStoredId = null;
    }
    if (state !== 'ready') this.choiceValue = this.loadedKey;
  }

  private openFile(file: File): void {
    if (!/\.gguf$/i.test(file.name)) {
      this.pending = null;
      alert(`${file.name} is not a .gguf file`);
      return;
    }
    this.run({ kind: 'file', file, name: file.name }, null);
  }

  /** Choosing only selects (arrow keys on a closed picker change it at every press): Load loads. */
  private onPick(e: Event): void {
    this.userPicked = true;
    this.choiceValue = (e.target as HTMLSelectElement).value;
    if (this.choiceValue === REMOTE) void this.openRemoteForm();
    else this.remoteFormOpen = false;
    if (this.choiceValue === OPEN_URL) void this.openUrlForm();
    else this.urlFormOpen = false;
  }

  private loadChosen(): void {
    const choice = this.parseKey(this.choiceValue);
    if (choice) this.select(choice);
  }

  private async onReady(e: CustomEvent<LlmReadyDetail>): Promise<void> {
    const { info, source, endpoint } = e.detail;
    this.info = info;
    this.storyModel = !info.hasChatTemplate;
    this.loadingKey = '';
    this.remoteServer = endpoint ? { endpoint, model: info.name } : null;
    await this.refresh();
    const key = endpoint ? REMOTE : this.keyForSource(source);
    this.loadedKey = key;
    this.loadedFileName = source?.kind === 'file' ? (source.name ?? (source.file as File).name ?? '') : '';
    this.choiceValue = key;
    // A model loaded from its URL is in the store now: mark it in the panel.
    this.activeStoredId =
      source?.kind === 'stored' ? source.id : source?.kind === 'url' ? (this.cached.find((m) => m.url === source.url)?.id ?? null) : null;
    const choice = (this.loadingChoice && this.choiceKey(this.loadingChoice) === key ? this.loadingChoice : null) ?? this.parseKey(key);
    if (choice) localStorage.setItem(LAST_MODEL_KEY, JSON.stringify(choice));
    this.loadingChoice = null;
  }

  private async deleteModel(id: string): Promise<void> {
    const m = this.cached.find((x) => x.id === id);
    if (!confirm(`Delete ${m?.name ?? id} from this browser's storage?`)) return;
    if (id === this.activeStoredId) this.chat.source = null;
    await this.engineWorker.deleteModel(id).catch((err: Error) => alert(`Could not delete ${id}: ${err.message}`));
    await this.refresh();
  }

  private loadStored(id: string): void {
    const m = this.cached.find((x) => x.id === id);
    if (m && !m.complete && m.url) {
      // A partial download resumes from its URL.
      this.run({ kind: 'url', url: m.url }, { kind: 'stored', id });
      return;
    }
    this.select({ kind: 'stored', id });
  }

  /** The download warning is a dialog: it takes the focus, so Enter, Tab and Escape act on it. */
  private async focusBanner(): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>('.banner')?.focus();
  }

  /** Cancel on the download warning: nothing loads, the picker shows the model that runs. */
  private cancelPending(): void {
    this.pending = null;
    this.choiceValue = this.loadedKey;
    void this.updateComplete.then(() => this.picker?.focus());
  }

  private async openCache(): Promise<void> {
    this.showCache = true;
    void this.refresh();
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>('aside .close')?.focus();
  }

  /** Closes the panel and gives the focus back to its toggle (the panel's buttons are gone). */
  private async closeCache(): Promise<void> {
    if (!this.showCache) return;
    this.showCache = false;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>('.cache-toggle')?.focus();
  }

  /** Escape closes what is open on top: the download warning, else the cached-models panel (a reply being generated is the chat's to stop). */
  private onDocumentKeydown = (e: KeyboardEvent) => {
    if (e.key !== 'Escape' || e.defaultPrevented || this.chat?.state === 'generating') return;
    if (this.remoteFormOpen) {
      e.preventDefault();
      this.closeRemoteForm();
    } else if (this.urlFormOpen) {
      e.preventDefault();
      this.closeUrlForm();
    } else if (this.pending) {
      e.preventDefault();
      this.cancelPending();
    } else if (this.showCache) {
      e.preventDefault();
      void this.closeCache();
    }
  };

  private onDragEnter = (e: DragEvent) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    this.dragDepth++;
    this.dragging = true;
  };
  private onDragOver = (e: DragEvent) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  };
  private onDragLeave = () => {
    this.dragDepth = Math.max(0, this.dragDepth - 1);
    if (this.dragDepth === 0) this.dragging = false;
  };
  private onDrop = (e: DragEvent) => {
    e.preventDefault();
    this.dragDepth = 0;
    this.dragging = false;
    const file = e.dataTransfer?.files?.[0];
    if (file) this.openFile(file);
  };

  private renderInfo() {
    const i = this.info;
    if (!i) return nothing;
    if (this.remoteServer) return html`<div class="info" aria-label="Model details">${i.name} · ${i.adapter}</div>`;
    const params = i.parameters >= 1e9 ? `${(i.parameters / 1e9).toFixed(2)}B` : `${(i.parameters / 1e6).toFixed(1)}M`;
    const types = Object.entries(i.tensorTypes)
      .sort((a, b) => b[1] - a[1])
      .map(([t, n]) => `${t}×${n}`)
      .join(' ');
    const gpu = i.gpuBytes.weights + i.gpuBytes.kvCache + i.gpuBytes.scratch;
    return html`<div class="info" aria-label="Model details">
      ${i.name} · ${i.architecture} · ${params} parameters · ${types} · context ${i.contextSize} · ${formatBytes(gpu)} GPU memory · ${i.adapter}
    </div>`;
  }

  /** The "Remote server…" form: an OpenAI-compatible API's URL, the model to ask for, and an optional key. */
  private renderRemoteForm() {
    const d = this.remoteDraft;
    const set = (field: keyof RemoteDraft) => (e: Event) =>
      (this.remoteDraft = { ...this.remoteDraft, [field]: (e.target as HTMLInputElement).value });
    return html`<form class="entry-form remote-form" aria-label="Remote server" @submit=${this.connectRemote}>
      <p>Chat with a model on an OpenAI-compatible server (lowbit serve, llama-server, vLLM, Ollama) instead of running one in this page.</p>
      <label
        >API base URL
        <input
          type="url"
          name="endpoint"
          required
          placeholder="https://host/v1"
          autocomplete="url"
          .value=${d.endpoint}
          @input=${set('endpoint')}
          aria-describedby="remote-problem"
      /></label>
      <label>Model <input type="text" name="model" placeholder="the first the server lists" .value=${d.model} @input=${set('model')} /></label>
      <label
        >API key (optional, kept in this tab's memory only, sent to this server only)
        <input type="password" name="api-key" autocomplete="off" .value=${d.apiKey} @input=${set('apiKey')}
      /></label>
      <div id="remote-problem" class="problem" role="alert">${this.remoteProblem}</div>
      <div class="buttons">
        <button type="submit" class="primary">Connect</button>
        <button type="button" @click=${() => this.closeRemoteForm()}>Cancel</button>
      </div>
    </form>`;
  }

  /** The "Model from a URL…" form: a .gguf's address, downloaded into this browser's model store. */
  private renderUrlForm() {
    return html`<form class="entry-form url-form" aria-label="Model from a URL" novalidate @submit=${this.pullUrl}>
      <p>Download a .gguf model into this browser's storage (it then runs offline). https, or http from this site or localhost.</p>
      <label
        >Model URL
        <input
          type="url"
          name="model-url"
          required
          placeholder="https://host/model.gguf"
          autocomplete="url"
          .value=${this.urlDraft}
          @input=${(e: Event) => (this.urlDraft = (e.target as HTMLInputElement).value)}
          aria-describedby="url-problem"
      /></label>
      <div id="url-problem" class="problem" role="alert">${this.urlProblem}</div>
      <div class="buttons">
        <button type="submit" class="primary">Download and load</button>
        <button type="button" @click=${() => this.closeUrlForm()}>Cancel</button>
      </div>
    </form>`;
  }

  protected override render() {
    const remote = this.loadedKey === REMOTE ? this.remoteServer : null;
    const remoteLabel = remote ? `Remote: ${remote.model} · ${hostOf(remote.endpoint)}` : 'Remote server…';
    const storedOnly = this.cached.filter((m) => m.complete && !CATALOGUE.some((e) => this.cachedFor(e)?.id === m.id));
    return html`
      <header>
        <span class="brand"><img src=${`${import.meta.env.BASE_URL}icons/favicon-32.png`} alt="" />lowbit</span>
        <div class="picker">
        <select aria-label="Model" .value=${this.choiceValue} @change=${this.onPick}>
          ${this.choiceValue === 'file' ? html`<option value="file" selected>From disk: ${this.loadedFileName}</option>` : nothing}
          ${this.choiceValue === '' ? html`<option value="" selected>No model loaded</option>` : nothing}
          <optgroup label="Models">
            ${CATALOGUE.map((e) => {
              const c = this.cachedFor(e);
              const size = `${e.approximate ? '≈' : ''}${formatBytes(e.bytes)}`;
              const state = c?.complete ? ' · cached' : c ? ' · partly downloaded' : '';
              const key = `entry:${e.key}`;
              return html`<option value=${key} ?selected=${key === this.choiceValue}>${e.label} · ${e.quantization} · ${size}${state}</option>`;
            })}
          </optgroup>
          <optgroup label="Server">
            <option value=${REMOTE} ?selected=${this.choiceValue === REMOTE}>${remoteLabel}</option>
          </optgroup>
          <optgroup label="Web">
            <option value=${OPEN_URL} ?selected=${this.choiceValue === OPEN_URL}>Model from a URL…</option>
          </optgroup>
          ${
            storedOnly.length
              ? html`<optgroup label="Other cached models">
                ${storedOnly.map((m) => {
                  const key = `stored:${m.id}`;
                  return html`<option value=${key} ?selected=${key === this.choiceValue}>${m.name} · ${formatBytes(m.bytes)}</option>`;
                })}
              </optgroup>`
              : nothing
          }
        </select>
        ${
          this.choiceValue !== this.loadedKey && this.choiceValue !== this.loadingKey && this.parseKey(this.choiceValue)
            ? html`<button type="button" class="primary" @click=${() => this.loadChosen()}>Load</button>`
            : nothing
        }
        </div>
        <button type="button" @click=${() => this.fileInput.click()}>Open .gguf…</button>
        <input
          type="file"
          accept=".gguf"
          hidden
          aria-label="Open a GGUF model file"
          @change=${(e: Event) => {
            const f = (e.target as HTMLInputElement).files?.[0];
            if (f) this.openFile(f);
            (e.target as HTMLInputElement).value = '';
          }}
        />
        <button
          type="button"
          aria-expanded=${this.showCache ? 'true' : 'false'}
          aria-controls="cache"
          class="cache-toggle"
          @click=${() => (this.showCache ? this.closeCache() : this.openCache())}
        >
          Cached models
        </button>
        <a class="lab-link" href="lab.html">Quantization lab</a>
        ${this.renderInfo()}
      </header>
      ${
        this.remoteFormOpen
          ? this.renderRemoteForm()
          : this.urlFormOpen
            ? this.renderUrlForm()
            : this.pending
              ? html`<div class="banner" role="alertdialog" aria-label="Download warning" tabindex="-1">
            <strong>Before downloading ${this.pending.label} (${formatBytes(this.pending.bytes)}):</strong>
            <ul>
              ${this.pending.warnings.map((w) => html`<li data-kind=${w.kind}>${w.message}</li>`)}
            </ul>
            <div class="buttons">
              ${
                this.pending.warnings.some((w) => w.kind === 'no-webgpu')
                  ? nothing
                  : html`<button type="button" class="primary" @click=${() => this.run(this.pending!.source, this.pending!.choice)}>Download anyway</button>`
              }
              <button type="button" @click=${() => this.cancelPending()}>Cancel</button>
            </div>
          </div>`
              : html`<div></div>`
      }
      <div class="body">
        ${
          this.showCache
            ? html`<aside id="cache" aria-label="Cached models">
              <button type="button" class="close" aria-label="Close cached models" title="Close (Esc)" @click=${() => this.closeCache()}>×</button>
              <lowbit-model-cache
                .models=${this.cached}
                .storage=${this.storage}
                .activeId=${this.activeStoredId}
                @load-model=${(e: CustomEvent<{ id: string }>) => this.loadStored(e.detail.id)}
                @delete-model=${(e: CustomEvent<{ id: string }>) => this.deleteModel(e.detail.id)}
                @persist-storage=${async () => {
                  await navigator.storage?.persist?.();
                  await this.refresh();
                }}
              ></lowbit-model-cache>
            </aside>`
            : nothing
        }
        <main>
          ${
            this.storyModel
              ? html`<div class="chips" aria-label="Story openings">
                ${STORY_PROMPTS.map(
                  (p) =>
                    html`<button type="button" @click=${() => this.chat.state === 'ready' && this.chat.send(p).catch(() => undefined)}>${p}…</button>`,
                )}
              </div>`
              : nothing
          }
          <llm-chat class=${this.started ? '' : 'starting'} mode="auto" @llm-ready=${this.onReady} @llm-error=${() => void this.refresh()}></llm-chat>
        </main>
      </div>
      ${this.dragging ? html`<div class="drop">Drop a .gguf file to run it</div>` : nothing}
    `;
  }
}

/** The host (and port) of an endpoint, for the picker. */
function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

if (!customElements.get('lowbit-demo')) customElements.define('lowbit-demo', DemoApp);

declare global {
  interface HTMLElementTagNameMap {
    'lowbit-demo': DemoApp;
  }
}
