/**
 * <llm-chat>: a chat box over a lowbit engine.
 *
 *   <llm-chat model="https://…/model.gguf" system-prompt="You are terse."></llm-chat>
 *
 * With `model` (or the `source` property) the element starts the engine in a Web Worker, shows the
 * download/load progress and then chats. Give it an existing engine through the `engine` property
 * (no worker is started), or a custom `loader` (the demo shares one worker with its model manager).
 * See the README for attributes, events, parts and CSS custom properties.
 */
import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, query, state } from 'lit/decorators.js';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import { CHAT_TEMPERATURE } from '../engine/types.ts';
import type { EngineWorker } from '../engine/worker-client.ts';
import type {
  ChatMessage,
  GeneratedToken,
  GenerationStats,
  LlmEngine,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  ModelSource,
  TokenStream,
} from '../engine/types.ts';
import { describeError, type ErrorText } from './error-text.ts';
import { formatBytes, formatRate } from '../format.ts';
import { formatDuration, formatTokensPerSec } from './format.ts';
import { StreamingMarkdown } from './markdown.ts';
import { spawnEngineWorker } from './spawn-worker.ts';
import { chatStyles } from './styles.ts';

export type ChatState = 'idle' | 'loading' | 'ready' | 'generating' | 'error';
export type ChatMode = 'auto' | 'chat' | 'complete';
export type EngineLoader = (source: ModelSource, options: LoadOptions) => Promise<LlmEngine>;

export interface LlmReadyDetail {
  info: ModelInfo;
}
export interface LlmProgressDetail {
  progress: LoadProgress;
}
export interface LlmTokenDetail {
  token: GeneratedToken;
  /** The reply so far. */
  text: string;
}
export interface LlmDoneDetail {
  text: string;
  stats: GenerationStats;
}
export interface LlmErrorDetail {
  error: Error;
  during: 'load' | 'generate';
}

interface Turn {
  id: number;
  role: 'user' | 'assistant';
  /** What the model produced (assistant) or what the user wrote. */
  text: string;
  /** Assistant, completion mode: the prompt the text continues, shown before it. */
  prompt?: string;
  /** Sanitized HTML blocks of an assistant turn. */
  html: string[];
  streaming: boolean;
  stats?: GenerationStats;
  error?: ErrorText;
  markdown?: StreamingMarkdown;
}

const PHASE_LABEL: Record<LoadProgress['phase'], string> = {
  download: 'Downloading model',
  verify: 'Checking model',
  upload: 'Loading into GPU memory',
  compile: 'Preparing GPU kernels',
};

function toError(e: unknown): Error {
  return e instanceof Error || e instanceof DOMException ? (e as Error) : new Error(String(e));
}

export class LlmChat extends LitElement {
  static override styles = chatStyles;

  /** URL of a GGUF model to download (into the model store) and run. */
  @property() model = '';
  /** Sent as the first, system message of every conversation (chat mode). */
  @property({ attribute: 'system-prompt' }) systemPrompt = '';
  @property({ type: Number }) temperature = CHAT_TEMPERATURE;
  @property({ type: Number, attribute: 'max-tokens' }) maxTokens = 512;
  /** KV-cache length in tokens; default: the engine's (min(model context, 2048)). */
  @property({ type: Number, attribute: 'context-size' }) contextSize: number | undefined = undefined;
  @property() placeholder = '';
  /**
   * 'chat' sends the conversation through the model's chat template; 'complete' continues the
   * text as written (story and base models); 'auto' picks chat when the model has a template.
   */
  @property() mode: ChatMode = 'auto';

  /** An engine to use as is: no worker is started and the element never disposes it. */
  @property({ attribute: false }) engine: LlmEngine | null = null;
  /** A model source (URL, stored id or File); takes precedence over `model`. */
  @property({ attribute: false }) source: ModelSource | null = null;
  /** Loads a source into an engine; defaults to a Web Worker owned by the element. */
  @property({ attribute: false }) loader: EngineLoader | null = null;

  @state() private chatState: ChatState = 'idle';
  @state() private progress: LoadProgress | null = null;
  @state() private loadError: ErrorText | null = null;
  @state() private turns: Turn[] = [];
  @state() private draft = '';

  @query('textarea') private textarea!: HTMLTextAreaElement;
  @query('.log') private log!: HTMLElement;

  private active: LlmEngine | null = null;
  /** True when `active` came from a load by this element (so it is disposed on replacement). */
  private ownsActive = false;
  private ownWorker: EngineWorker | null = null;
  private loadController: AbortController | null = null;
  private generation: AbortController | null = null;
  private nextTurnId = 1;
  private stickToBottom = true;
  private renderPending = false;
  private teardownTimer: ReturnType<typeof setTimeout> | undefined;

  /** Where the element is: idle (no model), loading, ready, generating or error (load failed). */
  get state(): ChatState {
    return this.chatState;
  }

  /** The loaded model's description, once ready. */
  get info(): ModelInfo | null {
    return this.active?.info ?? null;
  }

  /** The conversation so far (system prompt excluded). */
  get messages(): ChatMessage[] {
    const out: ChatMessage[] = [];
    this.turns.forEach((t, i) => {
      const failed = (x: Turn | undefined) => !!x && x.role === 'assistant' && !!x.error && !x.text;
      // A question whose reply failed outright is left out with its reply.
      if (failed(t) || (t.role === 'user' && failed(this.turns[i + 1]))) return;
      out.push({ role: t.role, content: t.text });
    });
    return out;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    clearTimeout(this.teardownTimer);
    this.addEventListener('keydown', this.onHostKeydown);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.removeEventListener('keydown', this.onHostKeydown);
    // Moving the element in the DOM disconnects and reconnects it at once: only tear down (stop
    // the worker, free the GPU) when it stays out of the document.
    this.teardownTimer = setTimeout(() => {
      if (!this.isConnected) this.teardown();
    }, 0);
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('engine')) {
      this.adopt();
    } else if (!this.engine && (changed.has('model') || changed.has('source') || changed.has('contextSize') || changed.has('loader'))) {
      const hadSource = changed.has('model') ? changed.get('model') : undefined;
      if (this.currentSource() || hadSource) void this.load();
    }
    this.setAttribute('state', this.chatState);
    if (this.stickToBottom && this.log) this.log.scrollTop = this.log.scrollHeight;
  }

  /** (Re)loads the model named by `source` or `model`. Resolves when ready (or failed). */
  async load(): Promise<void> {
    if (this.engine) return this.adopt();
    const source = this.currentSource();
    this.stop();
    this.loadController?.abort();
    await this.releaseActive();
    if (!source) {
      this.chatState = 'idle';
      this.progress = null;
      this.loadError = null;
      return;
    }
    const controller = new AbortController();
    this.loadController = controller;
    this.chatState = 'loading';
    this.progress = null;
    this.loadError = null;
    const loader = this.loader ?? ((s: ModelSource, o: LoadOptions) => (this.ownWorker ??= spawnEngineWorker()).load(s, o));
    try {
      const engine = await loader(source, {
        contextSize: this.contextSize,
        signal: controller.signal,
        onProgress: (progress) => {
          if (controller.signal.aborted) return;
          this.progress = progress;
          this.emit<LlmProgressDetail>('llm-progress', { progress });
        },
      });
      if (controller.signal.aborted) {
        await engine.dispose();
        return;
      }
      this.active = engine;
      this.ownsActive = true;
      this.chatState = 'ready';
      this.progress = null;
      this.emit<LlmReadyDetail>('llm-ready', { info: engine.info });
    } catch (e) {
      if (controller.signal.aborted) return;
      const error = toError(e);
      this.chatState = 'error';
      this.progress = null;
      this.loadError = describeError(error);
      this.emit<LlmErrorDetail>('llm-error', { error, during: 'load' });
    } finally {
      if (this.loadController === controller) this.loadController = null;
    }
  }

  /** Stops a model download/load in progress. */
  cancelLoad(): void {
    if (!this.loadController) return;
    this.loadController.abort();
    this.loadController = null;
    this.chatState = 'idle';
    this.progress = null;
  }

  /**
   * Sends a user message and streams the reply. Resolves with the reply text when it ends
   * (stopped replies included); rejects when the engine fails.
   */
  async send(text: string): Promise<string> {
    const content = text.trim();
    if (!content) return '';
    if (this.chatState !== 'ready' || !this.active) {
      throw new DOMException(`<llm-chat> cannot send while ${this.chatState}`, 'InvalidStateError');
    }
    const engine = this.active;
    const useChat = this.mode === 'chat' || (this.mode === 'auto' && engine.info.hasChatTemplate);
    const history = this.messages;
    const userTurn: Turn = { id: this.nextTurnId++, role: 'user', text: content, html: [], streaming: false };
    const reply: Turn = {
      id: this.nextTurnId++,
      role: 'assistant',
      text: '',
      prompt: useChat ? undefined : content,
      html: [],
      streaming: true,
      markdown: new StreamingMarkdown(),
    };
    this.turns = [...this.turns, userTurn, reply];
    this.stickToBottom = true;
    const controller = new AbortController();
    this.generation = controller;
    this.chatState = 'generating';
    const options = { temperature: this.temperature, maxTokens: this.maxTokens, signal: controller.signal };
    try {
      let stream: TokenStream;
      if (useChat) {
        const messages: ChatMessage[] = [...(this.systemPrompt ? [{ role: 'system' as const, content: this.systemPrompt }] : []), ...history, { role: 'user', content }];
        stream = engine.chat(messages, options);
      } else {
        stream = engine.generate(content, options);
      }
      for await (const token of stream) {
        reply.text += token.text;
        this.scheduleRender(reply);
        this.emit<LlmTokenDetail>('llm-token', { token, text: reply.text });
      }
      const stats = await stream.stats;
      reply.stats = stats;
      this.finishTurn(reply);
      this.emit<LlmDoneDetail>('llm-done', { text: reply.text, stats });
      return reply.text;
    } catch (e) {
      const error = toError(e);
      reply.error = describeError(error);
      this.finishTurn(reply);
      this.emit<LlmErrorDetail>('llm-error', { error, during: 'generate' });
      throw error;
    } finally {
      if (this.generation === controller) this.generation = null;
      if (this.chatState === 'generating') this.chatState = this.active ? 'ready' : 'idle';
    }
  }

  /** Stops the reply being generated (same as the stop button or Escape). */
  stop(): void {
    this.generation?.abort();
  }

  /** Starts a new conversation. */
  async clear(): Promise<void> {
    this.stop();
    this.turns = [];
    await this.active?.reset().catch(() => undefined);
    this.textarea?.focus();
  }

  private currentSource(): ModelSource | null {
    if (this.source) return this.source;
    return this.model ? { kind: 'url', url: new URL(this.model, document.baseURI).href } : null;
  }

  private async adopt(): Promise<void> {
    this.stop();
    this.loadController?.abort();
    this.loadController = null;
    await this.releaseActive();
    this.active = this.engine;
    this.ownsActive = false;
    this.progress = null;
    this.loadError = null;
    if (this.engine) {
      this.chatState = 'ready';
      this.emit<LlmReadyDetail>('llm-ready', { info: this.engine.info });
    } else {
      this.chatState = 'idle';
      if (this.currentSource()) await this.load();
    }
  }

  private async releaseActive(): Promise<void> {
    const old = this.active;
    const owned = this.ownsActive;
    this.active = null;
    this.ownsActive = false;
    if (old && owned) await old.dispose().catch(() => undefined);
  }

  private teardown(): void {
    this.stop();
    this.loadController?.abort();
    this.loadController = null;
    void this.releaseActive();
    this.ownWorker?.terminate();
    this.ownWorker = null;
    if (this.chatState !== 'error') this.chatState = 'idle';
  }

  private emit<T>(type: string, detail: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
  }

  /** Re-renders a streaming reply at most once per frame, however fast tokens arrive. */
  private scheduleRender(turn: Turn): void {
    if (this.renderPending) return;
    this.renderPending = true;
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      this.renderPending = false;
      if (!turn.streaming) return;
      turn.html = turn.markdown!.update(this.displayText(turn));
      this.requestUpdate();
    };
    requestAnimationFrame(run);
    // rAF does not fire in background tabs; keep the text moving there too, more slowly.
    setTimeout(run, 250);
  }

  private finishTurn(turn: Turn): void {
    turn.streaming = false;
    if (turn.role === 'assistant') turn.html = turn.markdown ? turn.markdown.finish(this.displayText(turn)) : [];
    turn.markdown = undefined;
    this.turns = [...this.turns];
  }

  private displayText(turn: Turn): string {
    return turn.prompt !== undefined ? turn.prompt + turn.text : turn.text;
  }

  private onHostKeydown = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && this.chatState === 'generating') {
      e.preventDefault();
      this.stop();
    }
  };

  private onInputKeydown(e: KeyboardEvent): void {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    }
  }

  private submit(e?: Event): void {
    e?.preventDefault();
    if (this.chatState !== 'ready' || !this.draft.trim()) return;
    const text = this.draft;
    this.draft = '';
    this.send(text).catch(() => undefined);
  }

  private onScroll(): void {
    const log = this.log;
    this.stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }

  protected override render(): TemplateResult {
    const generating = this.chatState === 'generating';
    const ready = this.chatState === 'ready';
    const placeholder =
      this.placeholder ||
      (this.active && !(this.mode === 'chat' || (this.mode === 'auto' && this.active.info.hasChatTemplate))
        ? 'Write the beginning of a story…'
        : 'Type a message…');
    return html`
      <div class="container" part="container">
        <div
          class="log"
          part="log"
          role="log"
          aria-live="polite"
          aria-relevant="additions text"
          aria-busy=${generating ? 'true' : 'false'}
          aria-label="Conversation"
          @scroll=${this.onScroll}
        >
          ${this.renderStatus()} ${this.turns.map((t) => this.renderTurn(t))}
        </div>
        <form part="form" @submit=${this.submit}>
          ${this.turns.length
            ? html`<button type="button" class="secondary" part="clear-button" aria-label="New conversation" title="New conversation" @click=${() => this.clear()}>
                New
              </button>`
            : nothing}
          <textarea
            part="input"
            rows="1"
            aria-label="Message"
            placeholder=${placeholder}
            .value=${this.draft}
            @input=${(e: Event) => (this.draft = (e.target as HTMLTextAreaElement).value)}
            @keydown=${this.onInputKeydown}
          ></textarea>
          ${generating
            ? html`<button type="button" class="primary" part="stop-button" aria-label="Stop generating" title="Stop (Esc)" @click=${() => this.stop()}>Stop</button>`
            : html`<button type="submit" class="primary" part="send-button" aria-label="Send message" title="Send (Enter)" ?disabled=${!ready || !this.draft.trim()}>
                Send
              </button>`}
        </form>
      </div>
    `;
  }

  private renderStatus(): TemplateResult | typeof nothing {
    switch (this.chatState) {
      case 'loading':
        return this.renderProgress();
      case 'error':
        return this.loadError ? this.renderError(this.loadError, true) : nothing;
      case 'idle':
        return html`<p class="status" part="status">No model loaded yet.</p>`;
      case 'ready':
        return this.turns.length
          ? nothing
          : html`<p class="status" part="status">${this.active ? `${this.active.info.name} is ready.` : ''} ${this.placeholderHint()}</p>`;
      default:
        return nothing;
    }
  }

  private placeholderHint(): string {
    const info = this.active?.info;
    if (!info) return '';
    const chat = this.mode === 'chat' || (this.mode === 'auto' && info.hasChatTemplate);
    return chat ? 'Type a message and press Enter.' : 'This model continues text: write the start of a story and press Enter.';
  }

  private renderProgress(): TemplateResult {
    const p = this.progress;
    const fraction = p && p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
    const pct = Math.round(fraction * 100);
    const label = p ? PHASE_LABEL[p.phase] : 'Connecting';
    const parts = p && p.bytesTotal > 0 ? [`${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`] : [];
    const rate = formatRate(p?.rate);
    if (rate) parts.push(rate);
    const eta = formatDuration(p?.etaSeconds);
    if (eta && fraction < 1) parts.push(`${eta} left`);
    const detail = parts.join(' · ');
    const name = this.sourceName();
    return html`
      <div class="panel" part="progress" role="status">
        <div class="progress-head">
          <span class="phase">${label}…</span>
          <span>${p ? `${pct}%` : ''}</span>
        </div>
        ${name ? html`<div class="progress-detail model-name">${name}</div>` : nothing}
        <div
          class="bar"
          part="progress-bar"
          role="progressbar"
          aria-label=${label}
          aria-valuemin="0"
          aria-valuemax="100"
          aria-valuenow=${pct}
          aria-valuetext=${detail || label}
        >
          <div style="width: ${pct}%"></div>
        </div>
        <div class="progress-detail">${detail || '\u00a0'}</div>
        <div style="margin-top: 8px">
          <button type="button" class="secondary small" part="cancel-button" @click=${() => this.cancelLoad()}>Cancel</button>
        </div>
      </div>
    `;
  }

  /** What is being loaded, for the progress panel: a file name or a stored model's id. */
  private sourceName(): string {
    const s = this.currentSource();
    if (!s) return '';
    if (s.kind === 'stored') return s.id;
    if (s.kind === 'file') return s.name ?? (s.file as File).name ?? '';
    if (s.name) return s.name;
    try {
      return decodeURIComponent(new URL(s.url).pathname.split('/').pop() ?? '');
    } catch {
      return '';
    }
  }

  private renderError(err: ErrorText, withRetry: boolean): TemplateResult {
    return html`
      <div class="error ${withRetry ? 'panel' : ''}" part="error" role="alert">
        <strong>${err.title}</strong>
        <div class="detail">${err.detail}</div>
        ${err.hint ? html`<div class="hint">${err.hint}</div>` : nothing}
        ${withRetry
          ? html`<div style="margin-top: 8px"><button type="button" class="secondary small" part="retry-button" @click=${() => this.load()}>Retry</button></div>`
          : nothing}
      </div>
    `;
  }

  private renderTurn(turn: Turn): TemplateResult {
    if (turn.role === 'user') {
      return html`<div class="msg user" part="message user-message"><span class="sr-only">You said:</span><div class="bubble">${turn.text}</div></div>`;
    }
    const empty = !turn.streaming && !turn.text.trim() && !turn.error;
    const showBubble = turn.streaming || turn.text || empty || turn.prompt;
    return html`
      <div class="msg assistant" part="message assistant-message">
        <span class="sr-only">Assistant:</span>
        ${showBubble
          ? html`<div class="bubble">
              <div class="md ${turn.streaming ? 'cursor' : ''}" part="content">
                ${turn.html.map((h) => unsafeHTML(h))}
                ${empty ? html`<span class="empty-reply">(no reply)</span>` : nothing}
              </div>
            </div>`
          : nothing}
        ${turn.error ? this.renderError(turn.error, false) : nothing} ${turn.stats ? this.renderStats(turn.stats) : nothing}
      </div>
    `;
  }

  private renderStats(s: GenerationStats): TemplateResult {
    const notes: string[] = [`${formatTokensPerSec(s.decodeTokensPerSec)} tokens/s`, `${s.generatedTokens} tokens`];
    if (s.timeToFirstTokenMs > 0) notes.push(`first token ${Math.round(s.timeToFirstTokenMs)} ms`);
    if (s.finishReason === 'length') notes.push('hit the token limit');
    if (s.finishReason === 'abort') notes.push('stopped');
    return html`<div class="stats" part="stats">${notes.join(' · ')}</div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'llm-chat': LlmChat;
  }
  interface HTMLElementEventMap {
    'llm-ready': CustomEvent<LlmReadyDetail>;
    'llm-progress': CustomEvent<LlmProgressDetail>;
    'llm-token': CustomEvent<LlmTokenDetail>;
    'llm-done': CustomEvent<LlmDoneDetail>;
    'llm-error': CustomEvent<LlmErrorDetail>;
  }
}

/** Registers <llm-chat> (once, even if two bundles include this module). */
export function defineLlmChat(tag = 'llm-chat'): void {
  if (!customElements.get(tag)) customElements.define(tag, tag === 'llm-chat' ? LlmChat : class extends LlmChat {});
}
