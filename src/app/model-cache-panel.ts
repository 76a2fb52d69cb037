/**
 * <lowbit-model-cache>: the demo's list of models in the model store (IndexedDB) with their size,
 * download state and last use, buttons to load or delete each, and the site's storage use.
 * It only displays and asks: the demo app does the loading and deleting (events below).
 *
 * Events (bubbling, composed): `load-model` {id}, `delete-model` {id}, `persist-storage`.
 */
import { LitElement, css, html, nothing } from 'lit';
import { property } from 'lit/decorators.js';
import type { CachedModel } from '../engine/types.ts';
import { formatBytes } from '../format.ts';
import { formatAgo } from '../ui/format.ts';

export interface StorageInfo {
  usage?: number;
  quota?: number;
  persisted?: boolean;
}

export class ModelCachePanel extends LitElement {
  static override styles = css`
    :host {
      display: block;
      font-size: 14px;
    }
    h2 {
      font-size: 15px;
      margin: 0 0 10px;
    }
    ul {
      list-style: none;
      margin: 0;
      padding: 0;
      display: flex;
      flex-direction: column;
      gap: 8px;
    }
    li {
      border: 1px solid var(--border, #d8dce2);
      border-radius: 10px;
      padding: 8px 10px;
      display: grid;
      grid-template-columns: 1fr auto;
      gap: 2px 10px;
      align-items: center;
    }
    li.active {
      border-color: var(--accent, #2f6fed);
    }
    .name {
      font-weight: 600;
      overflow-wrap: anywhere;
    }
    .meta {
      color: var(--muted, #5f6773);
      font-size: 12.5px;
      grid-column: 1;
    }
    .actions {
      grid-row: 1 / span 2;
      grid-column: 2;
      display: flex;
      gap: 6px;
    }
    button {
      font: inherit;
      font-size: 13px;
      border-radius: 8px;
      border: 1px solid var(--control-border, #7c8591);
      background: transparent;
      color: inherit;
      padding: 4px 10px;
      cursor: pointer;
    }
    button.danger {
      color: var(--danger, #b42318);
    }
    button:focus-visible {
      outline: 2px solid var(--accent, #2f6fed);
    }
    .storage {
      margin-top: 14px;
    }
    .bar {
      height: 6px;
      border-radius: 3px;
      background: var(--track, #e7eaef);
      overflow: hidden;
      margin: 6px 0;
    }
    .bar > div {
      height: 100%;
      background: var(--accent, #2f6fed);
    }
    .empty {
      color: var(--muted, #5f6773);
    }
  `;

  @property({ attribute: false }) models: CachedModel[] = [];
  @property({ attribute: false }) storage: StorageInfo = {};
  /** Id of the model the chat is running, if it came from the store. */
  @property({ attribute: false }) activeId: string | null = null;

  private ask(type: string, detail: object = {}): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  protected override render() {
    const { usage, quota, persisted } = this.storage;
    const pct = usage !== undefined && quota ? Math.min(100, (usage / quota) * 100) : 0;
    return html`
      <h2>Cached models</h2>
      ${
        this.models.length === 0
          ? html`<p class="empty">No models stored yet. Models you load are kept here for offline use.</p>`
          : html`<ul aria-label="Cached models">
            ${this.models.map((m) => {
              const partial = !m.complete;
              const done = m.bytes > 0 ? Math.floor((m.bytesStored / m.bytes) * 100) : 0;
              const meta = [
                partial ? `${formatBytes(m.bytesStored)} of ${formatBytes(m.bytes)} (${done}%, download incomplete)` : formatBytes(m.bytes),
                m.lastUsed ? `used ${formatAgo(m.lastUsed)}` : '',
              ].filter(Boolean);
              return html`<li class=${m.id === this.activeId ? 'active' : ''} data-model-id=${m.id}>
                <span class="name">${m.name}</span>
                <span class="meta">${meta.join(' · ')}</span>
                <span class="actions">
                  <button
                    type="button"
                    aria-label=${`${partial ? 'Resume' : 'Load'} ${m.name}`}
                    @click=${() => this.ask('load-model', { id: m.id })}
                  >
                    ${partial ? 'Resume' : m.id === this.activeId ? 'Reload' : 'Load'}
                  </button>
                  <button type="button" class="danger" aria-label=${`Delete ${m.name}`} @click=${() => this.ask('delete-model', { id: m.id })}>Delete</button>
                </span>
              </li>`;
            })}
          </ul>`
      }
      <div class="storage" aria-label="Storage">
        ${
          usage !== undefined && quota !== undefined
            ? html`<div>Storage: ${formatBytes(usage)} used of ${formatBytes(quota)} available to this site</div>
              <div class="bar" role="meter" aria-label="Storage used" aria-valuemin="0" aria-valuemax=${quota} aria-valuenow=${usage}>
                <div style="width: ${pct}%"></div>
              </div>`
            : html`<div class="empty">This browser does not report storage use.</div>`
        }
        ${
          persisted === false
            ? html`<button type="button" @click=${() => this.ask('persist-storage')}>Keep models when space runs low</button>`
            : persisted
              ? html`<div class="empty">Stored models are kept when space runs low.</div>`
              : nothing
        }
      </div>
    `;
  }
}

if (!customElements.get('lowbit-model-cache')) customElements.define('lowbit-model-cache', ModelCachePanel);

declare global {
  interface HTMLElementTagNameMap {
    'lowbit-model-cache': ModelCachePanel;
  }
}
