/**
 * <llm-chat>: a chat box over a lowbit engine.
 *
 *   <llm-chat model="https://…/model.gguf" system-prompt="You are terse."></llm-chat>
 *
 * With `model` (or the `source` property) the element starts the engine in a Web Worker, shows the
 * download/load progress and then chats. Give it an existing engine through the `engine` property
 * (no worker is started), or a custom `loader` (the demo shares one worker with its model manager).
 * With `endpoint` it streams from an OpenAI-compatible server instead (`model` names the server's
 * model then):
 *
 *   <llm-chat endpoint="https://host/v1" model="qwen2.5-7b-instruct"></llm-chat>
 * The engine's lifecycle lives in engine-controller.ts, the templates in llm-chat-parts.ts; the
 * JSDoc on LlmChat documents the element's API (custom-elements.json is generated from it).
 */
import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, query, state } from 'lit/decorators.js';
import { CHAT_TEMPERATURE } from '../engine/types.ts';
import type { ChatMessage, GeneratedToken, GenerationStats, LlmEngine, ModelInfo, ModelSource, TokenStream } from '../engine/types.ts';
import { describeError } from './error-text.ts';
import {
  EngineController,
  emit,
  toError,
  type ChatState,
  type EngineLoader,
  type LlmErrorDetail,
  type LlmProgressDetail,
  type LlmReadyDetail,
} from './engine-controller.ts';
import {
  assistantTurn,
  composer,
  errorBox,
  markPromptEcho,
  progressPanel,
  statusLine,
  userTurn,
  type ErrorAction,
  type Turn,
} from './llm-chat-parts.ts';
import { StreamingMarkdown } from './markdown.ts';
import type { RemoteOptions } from '../engine/remote.ts';
import { chatStyles } from './styles.ts';

export type { ChatState, EngineLoader, LlmErrorDetail, LlmProgressDetail, LlmReadyDetail } from './engine-controller.ts';
export type ChatMode = 'auto' | 'chat' | 'complete';

/** Properties whose change reloads the model in the page, and those whose change reconnects to the server in endpoint mode. */
const RELOAD_ON = ['model', 'source', 'contextSize', 'loader'] as const;
const RECONNECT_ON = ['model', 'apiKey'] as const;

export interface LlmTokenDetail {
  token: GeneratedToken;
  /** The reply so far. */
  text: string;
}
export interface LlmDoneDetail {
  text: string;
  stats: GenerationStats;
}

/**
 * A chat box over a lowbit engine: streams sanitized markdown replies, with load progress, stop,
 * keyboard control, typed errors and a "Reload model" action after a GPU device loss.
 *
 * @element llm-chat
 * @tag llm-chat
 * @summary Chat with a quantized LLM running on WebGPU, in the page.
 *
 * @attr {string} model - URL of a GGUF model to download (into the model store) and run; with `endpoint`, the name of the server's model (default: the first it lists).
 * @attr {string} endpoint - Base URL of an OpenAI-compatible API (e.g. https://host/v1: lowbit serve, llama-server, vLLM, Ollama): replies stream from `<endpoint>/chat/completions` and no model runs in the page.
 * @attr {string} api-key - Sent to `endpoint` as `Authorization: Bearer`. Unsafe on public pages (anyone can read it): there, set the `engine` property to a RemoteEngine whose `fetch` goes through a same-origin proxy that adds the key.
 * @attr {string} system-prompt - Sent as the first, system message of every conversation (chat mode).
 * @attr {number} temperature - Sampling temperature (default 0.7).
 * @attr {number} max-tokens - Most tokens per reply (default 512).
 * @attr {number} context-size - KV-cache length in tokens (default: min(model context, 2048)).
 * @attr {string} placeholder - Placeholder of the message box.
 * @attr {'auto' | 'chat' | 'complete'} mode - chat template, plain continuation, or auto (chat when the model has a template).
 * @attr {'idle' | 'loading' | 'ready' | 'generating' | 'error'} state - Reflects where the element is (read-only).
 *
 * @fires {CustomEvent<LlmReadyDetail>} llm-ready - A model is loaded (or an engine adopted), or a failed or cancelled switch went back to the model loaded before; detail: `{info, source}`.
 * @fires {CustomEvent<LlmProgressDetail>} llm-progress - Download/load progress; detail: `{progress}` (phase, bytesDone, bytesTotal, rate, etaSeconds).
 * @fires {CustomEvent<LlmTokenDetail>} llm-token - A token of the reply arrived; detail: `{token, text}` (text: the reply so far).
 * @fires {CustomEvent<LlmDoneDetail>} llm-done - A reply ended (stopped replies included); detail: `{text, stats}`.
 * @fires {CustomEvent<LlmErrorDetail>} llm-error - A load or a reply failed, or the GPU device was lost; detail: `{error, during}` (during: 'load' | 'generate' | 'idle').
 *
 * @csspart container - The element's frame.
 * @csspart log - The conversation (a live region).
 * @csspart message - Each message (with user-message or assistant-message).
 * @csspart user-message - A message the user wrote.
 * @csspart assistant-message - A reply.
 * @csspart content - The rendered markdown of a reply.
 * @csspart stats - The tokens/s line under a reply.
 * @csspart error - An error box (in a reply, or as a panel when the engine failed).
 * @csspart status - The status line (no model / ready).
 * @csspart progress - The load progress panel.
 * @csspart progress-bar - The progress bar.
 * @csspart form - The message form.
 * @csspart input - The message box.
 * @csspart send-button - The Send button.
 * @csspart stop-button - The Stop button (while generating).
 * @csspart clear-button - The New conversation button.
 * @csspart cancel-button - Cancels a load.
 * @csspart retry-button - Retries a failed load.
 * @csspart back-button - After a failed switch: goes back to the model loaded before (it kept running).
 * @csspart reload-button - Reloads the model after a GPU device loss (from the model store, no download).
 *
 * @cssprop --llm-chat-bg - Background.
 * @cssprop --llm-chat-fg - Text colour.
 * @cssprop --llm-chat-muted - Secondary text.
 * @cssprop --llm-chat-border - Borders.
 * @cssprop --llm-chat-control-border - Borders of the message box and outlined buttons (keep 3:1 against the background).
 * @cssprop --llm-chat-accent - Primary buttons and focus rings.
 * @cssprop --llm-chat-accent-fg - Text on the accent colour.
 * @cssprop --llm-chat-user-bg - User message background.
 * @cssprop --llm-chat-user-fg - User message text.
 * @cssprop --llm-chat-assistant-bg - Reply background.
 * @cssprop --llm-chat-assistant-fg - Reply text.
 * @cssprop --llm-chat-code-bg - Code background in replies.
 * @cssprop --llm-chat-error - Error text and border.
 * @cssprop --llm-chat-error-bg - Error background.
 * @cssprop --llm-chat-radius - Corner radius.
 * @cssprop --llm-chat-font - Font family.
 * @cssprop --llm-chat-mono-font - Code font family.
 * @cssprop --llm-chat-height - Height of the element (default 32rem).
 */
export class LlmChat extends LitElement {
  static override styles = chatStyles;

  /** URL of a GGUF model to download (into the model store) and run; with `endpoint`, the server's model name. */
  @property() model = '';
  /** Base URL of an OpenAI-compatible API to stream replies from instead of running a model in the page. */
  @property() endpoint = '';
  /** Sent to `endpoint` as a Bearer token. Readable by anyone who can load the page: keep it off public pages. */
  @property({ attribute: 'api-key' }) apiKey = '';
  /** Sent as the first, system message of every conversation (chat mode). */
  @property({ attribute: 'system-prompt' }) systemPrompt = '';
  /** Sampling temperature, 0 for greedy; defaults to CHAT_TEMPERATURE (0.7). */
  @property({ type: Number }) temperature = CHAT_TEMPERATURE;
  /** Most tokens per reply. */
  @property({ type: Number, attribute: 'max-tokens' }) maxTokens = 512;
  /** KV-cache length in tokens; default: the engine's (min(model context, 2048)). */
  @property({ type: Number, attribute: 'context-size' }) contextSize: number | undefined = undefined;
  /** Placeholder of the message box (default: one that fits the mode). */
  @property() placeholder = '';
  /**
   * 'chat' sends the conversation through the model's chat template; 'complete' continues the
   * text as written (story and base models); 'auto' picks chat when the model has a template.
   */
  @property() mode: ChatMode = 'auto';
  /**
   * Where the element is: idle (no model), loading, ready, generating or error (the load failed or
   * the GPU device was lost). Read-only (setting it does nothing); reflected to the `state`
   * attribute, for CSS and tests, at each update.
   */
  @property({ reflect: true })
  get state(): ChatState {
    return this.engineCtl.state;
  }
  set state(_ignored: ChatState) {
    // Read-only: the engine controller owns the state. Lit's wrapper of this setter still runs.
  }

  /** An engine to use as is: no worker is started and the element never disposes it. */
  @property({ attribute: false }) engine: LlmEngine | null = null;
  /** A model source (URL, stored id or File); takes precedence over `model`. */
  @property({ attribute: false }) source: ModelSource | null = null;
  /** Loads a source into an engine; defaults to a Web Worker owned by the element. */
  @property({ attribute: false }) loader: EngineLoader | null = null;

  @state() private turns: Turn[] = [];
  @state() private draft = '';
  /** Said once the model changed under a conversation (which was then cleared). */
  @state() private switchNotice = '';
  /** The model the conversation on screen was held with: its engine and where it came from. */
  private turnsEngine: LlmEngine | null = null;
  private turnsSource: ModelSource | null = null;
  private turnsEndpoint: string | null = null;

  @query('textarea') private textarea!: HTMLTextAreaElement;
  @query('.log') private log!: HTMLElement;

  private readonly engineCtl = new EngineController(this, () => ({
    engine: this.engine,
    source: this.currentSource(),
    loader: this.loader,
    contextSize: this.contextSize,
    remote: this.remoteOptions(),
  }));
  /** The state value last reflected to the attribute. */
  private reflectedState: ChatState | undefined = undefined;
  private nextTurnId = 1;
  private stickToBottom = true;
  private renderPending = false;

  /** The loaded model's description, once ready. */
  get info(): ModelInfo | null {
    return this.engineCtl.engine?.info ?? null;
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
    document.addEventListener('keydown', this.onDocumentKeydown);
    this.addEventListener('llm-ready', this.onReady);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('keydown', this.onDocumentKeydown);
    this.removeEventListener('llm-ready', this.onReady);
  }

  protected override willUpdate(): void {
    // The state changes inside the controller, not through the setter: tell Lit, so that this
    // update reflects it to the attribute.
    if (this.reflectedState !== this.state) {
      this.requestUpdate('state', this.reflectedState);
      this.reflectedState = this.state;
    }
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('engine')) {
      void this.engineCtl.adopt();
    } else if (!this.engine && (changed.has('endpoint') || (this.endpoint ? RECONNECT_ON : RELOAD_ON).some((p) => changed.has(p)))) {
      // Clearing the source (or the model, or the endpoint) unloads the model that runs.
      const hadSource = (['model', 'source', 'endpoint'] as const).some((p) => changed.has(p) && changed.get(p));
      if (this.currentSource() || this.endpoint || hadSource) void this.load();
    }
    for (const md of this.renderRoot.querySelectorAll<HTMLElement>('.md[data-prompt]')) markPromptEcho(md, md.dataset.prompt ?? '');
    if (this.stickToBottom && this.log) this.log.scrollTop = this.log.scrollHeight;
  }

  /** (Re)loads the model named by `source` or `model`. Resolves when ready (or failed). */
  load(): Promise<void> {
    return this.engineCtl.load();
  }

  /** Stops a model download/load in progress (the model loaded before it, if any, is ready again). */
  cancelLoad(): void {
    this.engineCtl.cancelLoad();
  }

  /** After a failed switch: goes back to the model loaded before it. Returns false when there is none. */
  back(): boolean {
    return this.engineCtl.back();
  }

  /**
   * Sends a user message and streams the reply. Resolves with the reply text when it ends
   * (stopped replies included); rejects when the engine fails.
   */
  async send(text: string): Promise<string> {
    const content = text.trim();
    if (!content) return '';
    const { info } = this.engineCtl.readyEngine();
    const useChat = this.usesChat(info);
    const history = this.messages;
    const question: Turn = { id: this.nextTurnId++, role: 'user', text: content, html: [], streaming: false };
    const reply: Turn = {
      id: this.nextTurnId++,
      role: 'assistant',
      text: '',
      prompt: useChat ? undefined : content,
      contextSize: info.contextSize,
      html: [],
      streaming: true,
      markdown: new StreamingMarkdown(),
    };
    this.turns = [...this.turns, question, reply];
    this.turnsEngine = this.engineCtl.engine;
    this.turnsSource = this.engineCtl.source;
    this.turnsEndpoint = this.engineCtl.endpoint;
    this.switchNotice = '';
    this.stickToBottom = true;
    try {
      return await this.engineCtl.generate(async (engine, signal) => {
        const options = { temperature: this.temperature, maxTokens: this.maxTokens, signal };
        let stream: TokenStream;
        if (useChat) {
          const messages: ChatMessage[] = [
            ...(this.systemPrompt ? [{ role: 'system' as const, content: this.systemPrompt }] : []),
            ...history,
            { role: 'user', content },
          ];
          stream = engine.chat(messages, options);
        } else {
          stream = engine.generate(content, options);
        }
        for await (const token of stream) {
          reply.text += token.text;
          this.scheduleRender(reply);
          emit<LlmTokenDetail>(this, 'llm-token', { token, text: reply.text });
        }
        const stats = await stream.stats;
        // The reply ended with the focus on Stop, which is about to go: keep it in the form.
        if (this.stopButtonFocused()) this.textarea?.focus();
        reply.stats = stats;
        this.finishTurn(reply);
        emit<LlmDoneDetail>(this, 'llm-done', { text: reply.text, stats });
        return reply.text;
      });
    } catch (e) {
      const error = toError(e);
      reply.error = describeError(error);
      this.finishTurn(reply);
      emit<LlmErrorDetail>(this, 'llm-error', { error, during: 'generate' });
      throw error;
    }
  }

  /** Stops the reply being generated (same as the stop button or Escape). */
  stop(): void {
    this.engineCtl.stop();
  }

  /** Starts a new conversation. */
  async clear(): Promise<void> {
    this.turns = [];
    this.switchNotice = '';
    await this.engineCtl.reset();
    this.textarea?.focus();
  }

  private currentSource(): ModelSource | null {
    if (this.endpoint) return null;
    if (this.source) return this.source;
    return this.model ? { kind: 'url', url: new URL(this.model, document.baseURI).href } : null;
  }

  /** Endpoint mode's server, from the attributes. */
  private remoteOptions(): RemoteOptions | null {
    if (!this.endpoint) return null;
    return { endpoint: this.endpoint, model: this.model || undefined, apiKey: this.apiKey || undefined };
  }

  private usesChat(info: ModelInfo): boolean {
    return this.mode === 'chat' || (this.mode === 'auto' && info.hasChatTemplate);
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

  /**
   * A conversation belongs to the model it was held with: another model would get it as history
   * (chat) and its replies would read as that model's. A new model starts a new conversation, and
   * says so; the same model again (back after a failed switch, or reloaded after a GPU device
   * loss) keeps it.
   */
  private onReady = (e: Event) => {
    if (e.target !== this) return;
    const engine = this.engineCtl.engine;
    if (!this.turns.length || !engine || engine === this.turnsEngine) return;
    const sameModel = this.engineCtl.endpoint
      ? this.engineCtl.endpoint === this.turnsEndpoint
      : sameSource(this.engineCtl.source, this.turnsSource);
    if (sameModel && engine.info.name === this.turnsEngine?.info.name) {
      this.turnsEngine = engine;
      return;
    }
    const previous = this.turnsEngine?.info.name ?? '';
    this.turns = [];
    this.turnsEngine = null;
    this.turnsSource = null;
    this.turnsEndpoint = null;
    this.switchNotice = `Switched from ${previous} to ${engine.info.name}: a new conversation started.`;
  };

  /** Escape stops the reply wherever the focus is on the page (the keydown reaches the document from shadow roots too). */
  private onDocumentKeydown = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && this.engineCtl.state === 'generating') {
      e.preventDefault();
      this.stopAndRefocus();
    }
  };

  /** Stops the reply; the Stop button goes away, so the focus goes to the message box rather than to the page. */
  private stopAndRefocus(): void {
    const stopFocused = this.stopButtonFocused();
    this.stop();
    if (stopFocused) this.textarea?.focus();
  }

  private stopButtonFocused(): boolean {
    return !!(this.renderRoot as ShadowRoot).activeElement?.getAttribute('part')?.includes('stop-button');
  }

  private onInputKeydown = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    }
  };

  private submit = (e?: Event): void => {
    e?.preventDefault();
    if (this.engineCtl.state !== 'ready' || !this.draft.trim()) return;
    const text = this.draft;
    this.draft = '';
    this.send(text).catch(() => undefined);
  };

  private onScroll(): void {
    const log = this.log;
    this.stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }

  protected override render(): TemplateResult {
    const chatState = this.engineCtl.state;
    const active = this.engineCtl.engine;
    const story = !!active && !this.usesChat(active.info);
    const placeholder = this.placeholder || this.placeholderFor(chatState, story);
    return html`
      <div class="container" part="container">
        <div
          class="log"
          part="log"
          role="log"
          aria-live="polite"
          aria-relevant="additions text"
          aria-busy=${chatState === 'generating' ? 'true' : 'false'}
          aria-label="Conversation"
          @scroll=${this.onScroll}
        >
          ${this.renderStatus()} ${this.turns.map((t) => (t.role === 'user' ? userTurn(t) : assistantTurn(t)))} ${this.renderFailure()}
        </div>
        ${
          story && (chatState === 'ready' || chatState === 'generating')
            ? html`<div class="mode-note">Story continuation — each turn starts fresh</div>`
            : nothing
        }
        ${composer({
          draft: this.draft,
          placeholder,
          hasTurns: this.turns.length > 0,
          generating: chatState === 'generating',
          canSend: chatState === 'ready',
          onSubmit: this.submit,
          onInput: (value) => (this.draft = value),
          onKeydown: this.onInputKeydown,
          onClear: () => void this.clear(),
          onStop: () => {
            this.stop();
            this.textarea?.focus();
          },
        })}
      </div>
    `;
  }

  private renderStatus(): TemplateResult | typeof nothing {
    const active = this.engineCtl.engine;
    switch (this.engineCtl.state) {
      case 'loading':
        return progressPanel(this.engineCtl.progress, this.sourceName(), this.currentSource()?.kind === 'file', () => this.cancelLoad());
      case 'idle':
        return statusLine('No model loaded yet.');
      case 'ready':
        return this.turns.length || !active
          ? nothing
          : statusLine(`${this.switchNotice || `${active.info.name} is ready.`} ${this.placeholderHint(active.info)}`);
      default:
        return nothing;
    }
  }

  /** Why the engine is not running (after the conversation, where the user is looking). */
  private renderFailure(): TemplateResult | typeof nothing {
    const failure = this.engineCtl.failure;
    if (this.engineCtl.state !== 'error' || !failure) return nothing;
    const actions: ErrorAction[] = [];
    if (failure.action === 'retry') actions.push({ label: 'Retry', part: 'retry-button', run: () => void this.load() });
    if (failure.action === 'reload') actions.push({ label: 'Reload model', part: 'reload-button', run: () => void this.load() });
    if (failure.previous) actions.push({ label: `Back to ${failure.previous.name}`, part: 'back-button', run: () => void this.back() });
    return errorBox(failure.error, true, actions);
  }

  /** The message box says what it is for now: nothing can be sent while loading or after a failure. */
  private placeholderFor(state: ChatState, story: boolean): string {
    switch (state) {
      case 'loading':
        return 'Loading the model…';
      case 'idle':
        return 'No model loaded';
      case 'error':
        return 'No model is ready';
      default:
        return story ? 'Write the beginning of a story…' : 'Type a message…';
    }
  }

  private placeholderHint(info: ModelInfo): string {
    return this.usesChat(info)
      ? 'Type a message and press Enter.'
      : 'This model continues text: write the start of a story and press Enter.';
  }

  /** What is being loaded, for the progress panel: a file name, a stored model's id, or a server. */
  private sourceName(): string {
    if (this.endpoint) return this.model ? `${this.model} at ${this.endpoint}` : this.endpoint;
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
}

/** Two sources name the same model file (a URL, a stored id, or the same File). */
function sameSource(a: ModelSource | null, b: ModelSource | null): boolean {
  if (!a || !b || a.kind !== b.kind) return false;
  if (a.kind === 'url') return a.url === (b as typeof a).url;
  if (a.kind === 'stored') return a.id === (b as typeof a).id;
  return a.file === (b as typeof a).file;
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
