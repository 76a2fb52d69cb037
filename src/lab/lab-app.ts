/**
 * <lowbit-lab>: the quantization lab page. Pick a base model (stored, or a .gguf opened from
 * disk), tick target types, and the lab quantizes it in Web Workers straight into the model
 * store, measures each result on the GPU over a bundled held-out text (or the user's own), and
 * shows the table and the quality-vs-bits chart. Results download as .gguf, open in the chat demo,
 * and the table exports as CSV and JSON. Files quantized elsewhere (IQ types…) can be added to
 * the comparison.
 */
import { LitElement, css, html, nothing } from 'lit';
import { state } from 'lit/decorators.js';
import { LAST_MODEL_KEY, type LastModelChoice } from '../app/last-model.ts';
import { formatBytes } from '../format.ts';
import { requestBrowserGpu, type GpuContext } from '../gpu/device.ts';
import { BlobByteSource } from '../io/byte-source.ts';
import { BrowserQuantizePool } from '../quant/browser-quantize-pool.ts';
import { allFileTypes, fileTypeByName } from '../quant/mixture.ts';
import { IdbModelStore } from '../storage/idb-store.ts';
import { openStoredModel } from '../storage/model-source.ts';
import { listModels, type StoredModelInfo } from '../storage/store.ts';
import type { QualityAxis } from './chart.ts';
import './lab-chart.ts';
import { LabRun, type LabModel } from './lab-run.ts';
import { resultsToCsv, resultsToJson, type LabRow } from './results.ts';

/** The mixtures offered: every one `lowbit quantize` writes, except the float ones. */
const TARGET_TYPES = allFileTypes()
  .map((t) => t.name)
  .filter((n) => !['F32', 'F16', 'BF16'].includes(n));
const DEFAULT_TYPES = ['Q8_0', 'Q6_K', 'Q4_K_M', 'Q2_K'];
const BUNDLED_TEXT = 'lab/heldout-sample.txt';
/** Largest text file accepted: it is tokenized whole, on the page's thread. */
const MAX_TEXT_BYTES = 8 * 1024 * 1024;
const DOWNLOAD_PART_BYTES = 16 * 1024 * 1024;

type BaseChoice = { kind: 'stored'; id: string } | { kind: 'file'; file: File };

function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A number input's value as an integer in [min, max], or an error naming the field. */
function intField(value: string, name: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}

export class LabApp extends LitElement {
  static override styles = css`
    :host {
      --fg: #1d2026;
      --muted: #5f6773;
      --border: #d8dce2;
      --control-border: #7c8591;
      --accent: #2f6fed;
      --accent-fg: #ffffff;
      --danger: #b42318;
      display: block;
      color: var(--fg);
      font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
      max-width: 1100px;
      margin: 0 auto;
      padding: 0 16px 32px;
    }
    @media (prefers-color-scheme: dark) {
      :host {
        --fg: #e5e8ec;
        --muted: #9aa3ae;
        --border: #2e343d;
        --control-border: #7d8794;
        --accent: #6d9dff;
        --accent-fg: #0b1020;
        --danger: #ff9b91;
      }
    }
    header {
      display: flex;
      gap: 12px;
      align-items: baseline;
      padding: 12px 0;
      border-bottom: 1px solid var(--border);
    }
    h1 {
      font-size: 19px;
      margin: 0;
    }
    h2 {
      font-size: 16px;
      margin: 18px 0 8px;
    }
    a {
      color: var(--accent);
    }
    fieldset {
      border: 1px solid var(--border);
      border-radius: 10px;
      margin: 12px 0;
      padding: 8px 14px 12px;
    }
    .types {
      display: flex;
      flex-wrap: wrap;
      gap: 4px 14px;
    }
    .row {
      display: flex;
      flex-wrap: wrap;
      gap: 8px 14px;
      align-items: center;
    }
    select,
    button,
    input[type='number'] {
      font: inherit;
      font-size: 14px;
      color: inherit;
      background: transparent;
      border: 1px solid var(--control-border);
      border-radius: 8px;
      padding: 5px 9px;
    }
    input[type='number'] {
      width: 6em;
    }
    button {
      cursor: pointer;
    }
    button.primary {
      background: var(--accent);
      border-color: var(--accent);
      color: var(--accent-fg);
      font-weight: 600;
    }
    button:disabled {
      opacity: 0.55;
      cursor: default;
    }
    .problem {
      color: var(--danger);
      min-height: 1.2em;
    }
    .muted {
      color: var(--muted);
      font-size: 13px;
    }
    table {
      border-collapse: collapse;
      width: 100%;
      font-size: 14px;
    }
    th,
    td {
      text-align: right;
      padding: 4px 8px;
      border-bottom: 1px solid var(--border);
      white-space: nowrap;
    }
    th:first-child,
    td:first-child,
    td.status {
      text-align: left;
    }
    td.status {
      white-space: normal;
      min-width: 12em;
    }
    .table-wrap {
      overflow-x: auto;
    }
    progress {
      width: 8em;
    }
  `;

  @state() private stored: StoredModelInfo[] = [];
  @state() private base: BaseChoice | null = null;
  @state() private types = new Set(DEFAULT_TYPES);
  @state() private ctx = '256';
  @state() private chunks = '8';
  @state() private textFile: File | null = null;
  @state() private running = false;
  @state() private problem = '';
  @state() private axis: QualityAxis = 'ppl';
  @state() private rows: LabRow[] = [];
  @state() private runInfo = { base: '', text: '', ctx: 0, chunks: 0 };

  private readonly store = new IdbModelStore();
  private controller: AbortController | null = null;
  private pool: BrowserQuantizePool | null = null;
  private gpuContext: Promise<GpuContext> | null = null;
  private readonly lab = new LabRun({
    store: this.store,
    runner: () => (this.pool ??= new BrowserQuantizePool()),
    gpu: () => (this.gpuContext ??= requestBrowserGpu()),
    onChange: () => (this.rows = [...this.lab.rows]),
  });

  override connectedCallback(): void {
    super.connectedCallback();
    void this.refresh().finally(() => (document.documentElement.dataset.ready = 'true'));
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.controller?.abort();
    void this.pool?.close();
    void this.lab.dispose();
  }

  private async refresh(): Promise<void> {
    try {
      this.stored = (await listModels(this.store)).filter((m) => m.present);
    } catch (e) {
      this.problem = `Cannot read the model store: ${(e as Error).message}`;
    }
  }

  private async openBase(choice: BaseChoice): Promise<LabModel> {
    if (choice.kind === 'file') return { label: choice.file.name, source: new BlobByteSource(choice.file, choice.file.name) };
    return { label: choice.id, source: await openStoredModel(this.store, choice.id) };
  }

  private async evaluationText(): Promise<{ text: string; label: string }> {
    if (this.textFile) {
      if (this.textFile.size > MAX_TEXT_BYTES) {
        throw new RangeError(
          `${this.textFile.name} has ${formatBytes(this.textFile.size)}; the lab takes texts up to ${formatBytes(MAX_TEXT_BYTES)}`,
        );
      }
      try {
        return { text: new TextDecoder('utf-8', { fatal: true }).decode(await this.textFile.arrayBuffer()), label: this.textFile.name };
      } catch {
        throw new RangeError(`${this.textFile.name} is not UTF-8 text`);
      }
    }
    const res = await fetch(`${import.meta.env.BASE_URL}${BUNDLED_TEXT}`);
    if (!res.ok) throw new Error(`the bundled text could not be read (HTTP ${res.status})`);
    return { text: await res.text(), label: 'heldout-sample.txt (bundled)' };
  }

  private async runLab(): Promise<void> {
    if (this.running) return;
    this.problem = '';
    if (!this.base) {
      this.problem = 'Choose a base model first: a stored one, or open a .gguf file.';
      return;
    }
    if (this.types.size === 0) {
      this.problem = 'Tick at least one target type.';
      return;
    }
    const controller = new AbortController();
    this.controller = controller;
    this.running = true;
    try {
      const ctx = intField(this.ctx, 'Tokens per chunk', 16, 4096);
      const chunks = intField(this.chunks, 'Chunks', 1, 10_000);
      const text = await this.evaluationText();
      const model = await this.openBase(this.base);
      this.runInfo = { base: model.label, text: text.label, ctx, chunks };
      const types = TARGET_TYPES.filter((t) => this.types.has(t)).map(fileTypeByName);
      await this.lab.run(model, types, { text: text.text, ctx, chunks }, controller.signal);
    } catch (e) {
      this.problem = controller.signal.aborted ? 'Cancelled: unfinished results were deleted from the store.' : (e as Error).message;
    } finally {
      this.running = false;
      this.controller = null;
      this.rows = [...this.lab.rows];
      await this.refresh();
    }
  }

  private async addFile(file: File): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    this.running = true;
    try {
      await this.lab.addFile({ label: file.name, source: new BlobByteSource(file, file.name) }, controller.signal);
    } finally {
      this.running = false;
      this.controller = null;
    }
  }

  private async download(row: LabRow): Promise<void> {
    try {
      const src = await openStoredModel(this.store, row.storedId!);
      const parts: BlobPart[] = [];
      for (let at = 0; at < src.size; at += DOWNLOAD_PART_BYTES) {
        parts.push((await src.read(at, Math.min(DOWNLOAD_PART_BYTES, src.size - at))) as Uint8Array<ArrayBuffer>);
      }
      await src.close?.();
      saveBlob(new Blob(parts, { type: 'application/octet-stream' }), row.storedId!);
    } catch (e) {
      this.problem = `Download failed: ${(e as Error).message}`;
    }
  }

  private chat(row: LabRow): void {
    const choice: LastModelChoice = { kind: 'stored', id: row.storedId! };
    localStorage.setItem(LAST_MODEL_KEY, JSON.stringify(choice));
    location.assign(import.meta.env.BASE_URL);
  }

  private toggleType(name: string, on: boolean): void {
    const next = new Set(this.types);
    if (on) next.add(name);
    else next.delete(name);
    this.types = next;
  }

  private renderRow(r: LabRow) {
    const num = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));
    const status =
      r.status === 'quantizing' || r.status === 'evaluating'
        ? html`${r.status}
            <progress max="1" .value=${r.progress ?? 0} aria-label=${`${r.label} ${r.status}`}></progress>`
        : html`${r.status}${r.message ? html`: <span class="muted">${r.message}</span>` : nothing}`;
    return html`<tr data-label=${r.label} data-status=${r.status}>
      <td>${r.label}${r.kind === 'base' ? ' (base)' : r.kind === 'opened' ? ' (opened)' : ''}</td>
      <td data-col="bytes" data-value=${r.bytes ?? ''}>${r.bytes === undefined ? '' : formatBytes(r.bytes)}</td>
      <td data-col="bpw" data-value=${r.bitsPerWeight ?? ''}>${num(r.bitsPerWeight, 2)}</td>
      <td data-col="ppl" data-value=${r.ppl ?? ''}>${num(r.ppl, 4)}</td>
      <td data-col="kl" data-value=${r.kl ?? ''}>${num(r.kl, 6)}</td>
      <td data-col="same-top1" data-value=${r.sameTop1 ?? ''}>${r.sameTop1 === undefined ? '' : `${(100 * r.sameTop1).toFixed(2)} %`}</td>
      <td class="status">${status}</td>
      <td>
        ${
          r.storedId && r.status !== 'quantizing'
            ? html`<button type="button" @click=${() => this.download(r)} aria-label=${`Download ${r.storedId}`}>.gguf</button>
                <button type="button" @click=${() => this.chat(r)} aria-label=${`Chat with ${r.storedId}`}>Chat</button>`
            : nothing
        }
      </td>
    </tr>`;
  }

  protected override render() {
    const baseRow = this.rows.find((r) => r.kind === 'base' && r.status === 'done');
    const plotted = this.rows.filter((r) => r.kind !== 'base' && r.status === 'done');
    const baseValue = this.base?.kind === 'stored' ? `stored:${this.base.id}` : this.base ? 'file' : '';
    return html`
      <header>
        <h1>lowbit · Quantization lab</h1>
        <a href=${import.meta.env.BASE_URL}>Chat demo</a>
      </header>
      <p class="muted">
        Quantize a model in this browser (llama.cpp's mixtures, byte-identical to llama-quantize) and measure what each bit width costs
        on the GPU: perplexity, KL divergence from the base model and same top-1 over a held-out text.
      </p>
      <fieldset ?disabled=${this.running}>
        <legend>Base model (F32, F16, BF16 or Q8_0)</legend>
        <div class="row">
          <select
            aria-label="Base model"
            .value=${baseValue}
            @change=${(e: Event) => {
              const v = (e.target as HTMLSelectElement).value;
              this.base = v.startsWith('stored:') ? { kind: 'stored', id: v.slice(7) } : null;
            }}
          >
            <option value="" ?selected=${baseValue === ''}>Choose a stored model…</option>
            ${this.base?.kind === 'file' ? html`<option value="file" selected>From disk: ${this.base.file.name}</option>` : nothing}
            ${this.stored.map(
              (m) =>
                html`<option value=${`stored:${m.id}`} ?selected=${baseValue === `stored:${m.id}`}>${m.name} · ${formatBytes(m.size)}</option>`,
            )}
          </select>
          <label
            >or open a file
            <input
              type="file"
              accept=".gguf"
              aria-label="Open a base model file"
              @change=${(e: Event) => {
                const f = (e.target as HTMLInputElement).files?.[0];
                if (f) this.base = { kind: 'file', file: f };
              }}
          /></label>
        </div>
      </fieldset>
      <fieldset ?disabled=${this.running}>
        <legend>Target types</legend>
        <div class="types">
          ${TARGET_TYPES.map(
            (t) =>
              html`<label
                ><input type="checkbox" name="type" value=${t} .checked=${this.types.has(t)} @change=${(e: Event) => this.toggleType(t, (e.target as HTMLInputElement).checked)} />
                ${t}</label
              >`,
          )}
        </div>
      </fieldset>
      <fieldset ?disabled=${this.running}>
        <legend>Evaluation</legend>
        <div class="row">
          <label>Tokens per chunk <input type="number" name="ctx" min="16" max="4096" .value=${this.ctx} @input=${(e: Event) => (this.ctx = (e.target as HTMLInputElement).value)} /></label>
          <label>Chunks <input type="number" name="chunks" min="1" .value=${this.chunks} @input=${(e: Event) => (this.chunks = (e.target as HTMLInputElement).value)} /></label>
          <label
            >Text: ${this.textFile ? this.textFile.name : 'bundled held-out stories'}
            <input
              type="file"
              accept=".txt,text/plain"
              aria-label="Use my own text file"
              @change=${(e: Event) => (this.textFile = (e.target as HTMLInputElement).files?.[0] ?? null)}
          /></label>
        </div>
      </fieldset>
      <div class="row">
        <button type="button" class="primary" ?disabled=${this.running} @click=${() => this.runLab()}>Quantize and measure</button>
        <button type="button" ?disabled=${!this.running} @click=${() => this.controller?.abort()}>Cancel</button>
        <label
          >Compare a quantized file (IQ…)
          <input
            type="file"
            accept=".gguf"
            aria-label="Compare a quantized file"
            ?disabled=${this.running}
            @change=${(e: Event) => {
              const input = e.target as HTMLInputElement;
              const f = input.files?.[0];
              input.value = '';
              if (f) void this.addFile(f);
            }}
        /></label>
      </div>
      <div class="problem" role="alert">${this.problem}</div>
      ${
        this.rows.length
          ? html`<h2>Results</h2>
              <p class="muted">
                ${this.runInfo.text}, ${this.runInfo.chunks} chunk(s) of ${this.runInfo.ctx} tokens at most, second half of each chunk scored (llama-perplexity's
                method).
              </p>
              <div class="table-wrap">
                <table aria-label="Results">
                  <thead>
                    <tr>
                      <th>Model</th>
                      <th>Size</th>
                      <th>Bits/weight</th>
                      <th>PPL</th>
                      <th>KL vs base</th>
                      <th>Same top-1</th>
                      <th>Status</th>
                      <th></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${this.rows.map((r) => this.renderRow(r))}
                  </tbody>
                </table>
              </div>
              <div class="row">
                <button type="button" @click=${() => saveBlob(new Blob([resultsToCsv(this.rows)], { type: 'text/csv' }), 'lowbit-lab.csv')}>Export CSV</button>
                <button
                  type="button"
                  @click=${() => saveBlob(new Blob([resultsToJson(this.runInfo, this.rows)], { type: 'application/json' }), 'lowbit-lab.json')}
                >
                  Export JSON
                </button>
              </div>
              <h2>Quality against bits per weight</h2>
              <div class="row" role="radiogroup" aria-label="Quality axis">
                <label><input type="radio" name="axis" value="ppl" .checked=${this.axis === 'ppl'} @change=${() => (this.axis = 'ppl')} /> Perplexity</label>
                <label><input type="radio" name="axis" value="kl" .checked=${this.axis === 'kl'} @change=${() => (this.axis = 'kl')} /> KL vs base</label>
              </div>
              <lowbit-lab-chart
                .axis=${this.axis}
                .points=${plotted.map((r) => ({ label: r.label, bitsPerWeight: r.bitsPerWeight!, value: this.axis === 'ppl' ? r.ppl! : r.kl! }))}
                .kinds=${Object.fromEntries(plotted.map((r) => [r.label, r.kind]))}
                .base=${baseRow ? { label: `${baseRow.label} (base)`, bitsPerWeight: baseRow.bitsPerWeight!, ppl: baseRow.ppl! } : undefined}
              ></lowbit-lab-chart>`
          : nothing
      }
    `;
  }
}

if (!customElements.get('lowbit-lab')) customElements.define('lowbit-lab', LabApp);

declare global {
  interface HTMLElementTagNameMap {
    'lowbit-lab': LabApp;
  }
}
