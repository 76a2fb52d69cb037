/**
 * The templates of <llm-chat>, as small functions of what they show: the status line, the load
 * progress panel, error boxes (with their retry / reload action), conversation turns, the stats
 * line and the message form. They hold no state; the element passes data and handlers in.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import type { GenerationStats, LoadProgress } from '../engine/types.ts';
import type { ErrorText } from './error-text.ts';
import { formatBytes, formatRate } from '../format.ts';
import { formatDuration, formatTokensPerSec } from './format.ts';
import type { StreamingMarkdown } from './markdown.ts';

export interface Turn {
  id: number;
  role: 'user' | 'assistant';
  /** What the model produced (assistant) or what the user wrote. */
  text: string;
  /** Assistant, completion mode: the prompt the text continues, shown before it. */
  prompt?: string;
  /** The KV-cache length of the engine that wrote it: a reply cut there filled the context. */
  contextSize?: number;
  /** Sanitized HTML blocks of an assistant turn. */
  html: string[];
  streaming: boolean;
  stats?: GenerationStats;
  error?: ErrorText;
  markdown?: StreamingMarkdown;
}

/** A button under an error: what the user can do about it. */
export interface ErrorAction {
  label: string;
  part: string;
  run(): void;
}

const PHASE_LABEL: Record<LoadProgress['phase'], string> = {
  download: 'Downloading model',
  verify: 'Checking model',
  upload: 'Loading into GPU memory',
  compile: 'Preparing GPU kernels',
};

export function statusLine(text: string): TemplateResult {
  return html`<p class="status" part="status">${text}</p>`;
}

/** Download/load progress of the model named `name`, with a cancel button. */
export function progressPanel(p: LoadProgress | null, name: string, fromFile: boolean, onCancel: () => void): TemplateResult {
  // Kernels compile on the GPU side with no per-kernel signal: the bar moves without a number
  // until they are all ready, and the panel says how many there are.
  const kernels = p?.phase === 'compile';
  const indeterminate = kernels && p.bytesDone < p.bytesTotal;
  const fraction = p && p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
  const pct = Math.round(fraction * 100);
  // Before the first byte, a download is still connecting.
  const label =
    p?.phase === 'download' && fromFile
      ? 'Copying the file into browser storage'
      : !p || (p.phase === 'download' && p.bytesTotal === 0 && p.bytesDone === 0)
        ? 'Connecting'
        : PHASE_LABEL[p.phase];
  const retrying = p?.retry ? ` retrying (${p.retry.attempt}/${p.retry.of})…` : '';
  const parts =
    p && p.bytesTotal > 0
      ? [kernels ? `${p.bytesDone} of ${p.bytesTotal} kernels ready` : `${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`]
      : [];
  const rate = formatRate(p?.rate);
  if (rate) parts.push(rate);
  const eta = formatDuration(p?.etaSeconds);
  if (eta && fraction < 1) parts.push(`${eta} left`);
  const detail = parts.join(' · ');
  return html`
    <div class="panel" part="progress">
      <span class="sr-only" role="status">${label}</span>
      <div class="progress-head">
        <span class="phase">${label}…${retrying}</span>
        <span aria-hidden="true">${p && !indeterminate ? `${pct}%` : ''}</span>
      </div>
      ${name ? html`<div class="progress-detail model-name">${name}</div>` : nothing}
      <div
        class="bar ${indeterminate ? 'indeterminate' : ''}"
        part="progress-bar"
        role="progressbar"
        aria-label=${label}
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow=${indeterminate ? nothing : pct}
        aria-valuetext=${detail || label}
      >
        <div style="width: ${indeterminate ? 30 : pct}%"></div>
      </div>
      <!-- Changes several times a second: the progressbar's value text says it on demand instead. -->
      <div class="progress-detail" aria-hidden="true">${detail || '\u00a0'}</div>
      <div style="margin-top: 8px">
        <button type="button" class="secondary small" part="cancel-button" @click=${onCancel}>Cancel</button>
      </div>
    </div>
  `;
}

/**
 * An error: as a panel of its own when the engine failed (with the actions that can help, if any),
 * or inside a reply that failed (`panel` false).
 */
export function errorBox(err: ErrorText, panel: boolean, actions: readonly ErrorAction[] = []): TemplateResult {
  return html`
    <div class="error ${panel ? 'panel' : ''}" part="error" role="alert">
      <strong>${err.title}</strong>
      <div class="detail">${err.detail}</div>
      ${err.hint ? html`<div class="hint">${err.hint}</div>` : nothing}
      ${err.technical ? html`<details class="technical"><summary>Details</summary>${err.technical}</details>` : nothing}
      ${
        actions.length
          ? html`<div class="actions">
            ${actions.map((a) => html`<button type="button" class="secondary small" part=${a.part} @click=${() => a.run()}>${a.label}</button>`)}
          </div>`
          : nothing
      }
    </div>
  `;
}

/**
 * Completion mode shows the prompt before its continuation, rendered as one markdown text. This
 * mutes the echoed prompt: it wraps the leading text nodes of the rendered reply that spell the
 * prompt (whitespace aside) in span.prompt-echo. DOM only, so no HTML is built from user text; a
 * re-render of a block replaces its nodes and the next call marks them again.
 */
export function markPromptEcho(md: Element, prompt: string): void {
  const want = prompt.replace(/\s+/g, '');
  let matched = 0;
  const walker = md.ownerDocument.createTreeWalker(md, NodeFilter.SHOW_TEXT);
  const nodes: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n as Text);
  for (const node of nodes) {
    if (matched >= want.length) return;
    // Whitespace between elements is the template's (and may mark where a part ends): leave it.
    if (!node.data.trim()) continue;
    let k = 0;
    for (; k < node.data.length && matched < want.length; k++) {
      const c = node.data[k]!;
      if (/\s/.test(c)) continue;
      if (c !== want[matched]) break;
      matched++;
    }
    if (k === 0) return;
    if (node.parentElement?.classList.contains('prompt-echo')) continue;
    // The node goes on past the prompt: only its first k characters are the echo.
    if (k < node.data.length) node.splitText(k);
    const span = md.ownerDocument.createElement('span');
    span.className = 'prompt-echo';
    node.replaceWith(span);
    span.append(node);
  }
}

export function userTurn(turn: Turn): TemplateResult {
  return html`<div class="msg user" part="message user-message"><span class="sr-only">You said:</span><div class="bubble">${turn.text}</div></div>`;
}

export function assistantTurn(turn: Turn): TemplateResult {
  const empty = !turn.streaming && !turn.text.trim() && !turn.error;
  const showBubble = turn.streaming || turn.text || empty || turn.prompt;
  return html`
    <div class="msg assistant" part="message assistant-message">
      <span class="sr-only">Assistant:</span>
      ${
        showBubble
          ? html`<div class="bubble">
            <div class="md ${turn.streaming ? 'cursor' : ''}" part="content" data-prompt=${turn.prompt ?? nothing}>
              ${turn.html.map((h) => unsafeHTML(h))}
              ${empty ? html`<span class="empty-reply">(no reply)</span>` : nothing}
            </div>
          </div>`
          : nothing
      }
      ${turn.error ? errorBox(turn.error, false) : nothing} ${turn.stats ? statsLine(turn.stats, turn.contextSize) : nothing}
    </div>
  `;
}

export function statsLine(s: GenerationStats, contextSize?: number): TemplateResult {
  const notes: string[] = [`${formatTokensPerSec(s.decodeTokensPerSec)} tokens/s`, `${s.generatedTokens} tokens`];
  if (s.timeToFirstTokenMs > 0) notes.push(`first token ${Math.round(s.timeToFirstTokenMs)} ms`);
  if (s.finishReason === 'length')
    notes.push(contextSize && s.promptTokens + s.generatedTokens >= contextSize ? 'context full' : 'hit the token limit');
  if (s.finishReason === 'abort') notes.push('stopped');
  return html`<div class="stats" part="stats">${notes.join(' · ')}</div>`;
}

export interface ComposerView {
  draft: string;
  placeholder: string;
  /** The conversation has turns (a "New" button clears them). */
  hasTurns: boolean;
  generating: boolean;
  /** Sending is possible (an engine is ready). */
  canSend: boolean;
  onSubmit(e: Event): void;
  onInput(value: string): void;
  onKeydown(e: KeyboardEvent): void;
  onClear(): void;
  onStop(): void;
}

/** The message form: New, the text box, and Send or Stop. */
export function composer(v: ComposerView): TemplateResult {
  return html`
    <form part="form" @submit=${v.onSubmit}>
      ${
        v.hasTurns
          ? html`<button type="button" class="secondary" part="clear-button" aria-label="New conversation" title="New conversation" @click=${v.onClear}>
            New
          </button>`
          : nothing
      }
      <textarea
        part="input"
        rows="1"
        aria-label="Message"
        placeholder=${v.placeholder}
        .value=${v.draft}
        @input=${(e: Event) => v.onInput((e.target as HTMLTextAreaElement).value)}
        @keydown=${v.onKeydown}
      ></textarea>
      ${
        v.generating
          ? html`<button type="button" class="primary" part="stop-button" aria-label="Stop generating" title="Stop (Esc)" @click=${v.onStop}>Stop</button>`
          : html`<button type="submit" class="primary" part="send-button" aria-label="Send message" title="Send (Enter)" ?disabled=${!v.canSend || !v.draft.trim()}>
            Send
          </button>`
      }
    </form>
  `;
}
