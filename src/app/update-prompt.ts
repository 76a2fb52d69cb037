/**
 * <lowbit-update-prompt>: "A new version of lowbit is available — Reload". The service worker
 * does not take over open tabs by itself (src/app/pwa.ts), so the user chooses when to switch,
 * and an open chat is never cut off by a deploy.
 *
 * Event (bubbling, composed): `reload-app` when the user asks for the new version.
 */
import { LitElement, css, html } from 'lit';

export class UpdatePrompt extends LitElement {
  static override styles = css`
    :host {
      position: fixed;
      inset: auto 12px 12px auto;
      z-index: 10;
      max-width: calc(100vw - 24px);
      font: 14px/1.4 system-ui, sans-serif;
    }
    div {
      display: flex;
      gap: 10px;
      align-items: center;
      flex-wrap: wrap;
      padding: 10px 12px;
      border-radius: 10px;
      background: #1d2026;
      color: #ffffff;
      box-shadow: 0 4px 16px rgb(0 0 0 / 25%);
    }
    button {
      font: inherit;
      border: 0;
      border-radius: 8px;
      padding: 4px 12px;
      cursor: pointer;
      background: #2f6fed;
      color: #ffffff;
    }
    button.later {
      background: transparent;
      color: inherit;
      text-decoration: underline;
    }
  `;

  protected override render() {
    return html`<div role="status" part="update-prompt">
      <span>A new version of lowbit is available.</span>
      <button type="button" @click=${() => this.dispatchEvent(new CustomEvent('reload-app', { bubbles: true, composed: true }))}>Reload</button>
      <button type="button" class="later" @click=${() => this.remove()}>Later</button>
    </div>`;
  }
}

if (!customElements.get('lowbit-update-prompt')) customElements.define('lowbit-update-prompt', UpdatePrompt);
