import { css } from 'lit';

/**
 * Theme: every colour, the font and the radius come from a --llm-chat-* custom property with a
 * light default, and a dark default under prefers-color-scheme: dark. Internal --_x variables
 * carry the resolved values.
 */
export const chatStyles = css`
  :host {
    --_bg: var(--llm-chat-bg, #ffffff);
    --_fg: var(--llm-chat-fg, #1d2026);
    --_muted: var(--llm-chat-muted, #5f6773);
    --_border: var(--llm-chat-border, #d8dce2);
    /* Boundaries of the message box and outlined buttons: at least 3:1 against the background. */
    --_control-border: var(--llm-chat-control-border, #7c8591);
    --_accent: var(--llm-chat-accent, #2f6fed);
    --_accent-fg: var(--llm-chat-accent-fg, #ffffff);
    --_user-bg: var(--llm-chat-user-bg, #2f6fed);
    --_user-fg: var(--llm-chat-user-fg, #ffffff);
    --_assistant-bg: var(--llm-chat-assistant-bg, #f1f3f6);
    --_assistant-fg: var(--llm-chat-assistant-fg, var(--_fg));
    --_code-bg: var(--llm-chat-code-bg, #e7eaef);
    --_error: var(--llm-chat-error, #b42318);
    --_error-bg: var(--llm-chat-error-bg, #fef3f2);
    --_radius: var(--llm-chat-radius, 12px);
    --_font: var(--llm-chat-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    --_mono: var(--llm-chat-mono-font, ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace);

    color-scheme: light dark;
    display: flex;
    flex-direction: column;
    box-sizing: border-box;
    height: var(--llm-chat-height, 32rem);
    min-height: 16rem;
    background: var(--_bg);
    color: var(--_fg);
    font: 15px/1.5 var(--_font);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    overflow: hidden;
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --_bg: var(--llm-chat-bg, #15181d);
      --_fg: var(--llm-chat-fg, #e5e8ec);
      --_muted: var(--llm-chat-muted, #9aa3ae);
      --_border: var(--llm-chat-border, #2e343d);
      --_control-border: var(--llm-chat-control-border, #7d8794);
      --_accent: var(--llm-chat-accent, #6d9dff);
      --_accent-fg: var(--llm-chat-accent-fg, #0b1020);
      --_user-bg: var(--llm-chat-user-bg, #2d4f91);
      --_user-fg: var(--llm-chat-user-fg, #ffffff);
      --_assistant-bg: var(--llm-chat-assistant-bg, #1f242c);
      --_code-bg: var(--llm-chat-code-bg, #0d1014);
      --_error: var(--llm-chat-error, #ff9b91);
      --_error-bg: var(--llm-chat-error-bg, #3a1d1b);
    }
  }
  :host([hidden]) {
    display: none;
  }
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  .container {
    display: flex;
    flex-direction: column;
    flex: 1;
    min-height: 0;
  }
  .log {
    flex: 1;
    min-height: 0;
    overflow-y: auto;
    padding: 16px;
    display: flex;
    flex-direction: column;
    gap: 12px;
    overscroll-behavior: contain;
  }
  .msg {
    display: flex;
    flex-direction: column;
    max-width: min(85%, 48rem);
  }
  .msg.user {
    align-self: flex-end;
    align-items: flex-end;
  }
  .msg.assistant {
    align-self: flex-start;
  }
  .bubble {
    padding: 8px 12px;
    border-radius: var(--_radius);
    overflow-wrap: anywhere;
    min-width: 2.5rem;
  }
  .user .bubble {
    background: var(--_user-bg);
    color: var(--_user-fg);
    white-space: pre-wrap;
    border-bottom-right-radius: 4px;
  }
  .assistant .bubble {
    background: var(--_assistant-bg);
    color: var(--_assistant-fg);
    border-bottom-left-radius: 4px;
  }
  .md > :first-child,
  .md > :first-child > :first-child {
    margin-top: 0;
  }
  .md > :last-child,
  .md > :last-child > :last-child {
    margin-bottom: 0;
  }
  .md p,
  .md ul,
  .md ol,
  .md pre,
  .md blockquote,
  .md table {
    margin: 0.5em 0;
  }
  .md h1,
  .md h2,
  .md h3,
  .md h4 {
    margin: 0.8em 0 0.4em;
    line-height: 1.25;
  }
  .md h1 {
    font-size: 1.3em;
  }
  .md h2 {
    font-size: 1.18em;
  }
  .md h3,
  .md h4 {
    font-size: 1.05em;
  }
  .md ul,
  .md ol {
    padding-left: 1.4em;
  }
  .md code {
    font-family: var(--_mono);
    font-size: 0.9em;
    background: var(--_code-bg);
    padding: 0.1em 0.35em;
    border-radius: 4px;
  }
  .md pre {
    background: var(--_code-bg);
    padding: 10px 12px;
    border-radius: 8px;
    overflow-x: auto;
    line-height: 1.4;
  }
  .md pre code {
    background: none;
    padding: 0;
    font-size: 0.86em;
    white-space: pre;
  }
  .md blockquote {
    border-left: 3px solid var(--_border);
    padding-left: 10px;
    color: var(--_muted);
  }
  .md table {
    border-collapse: collapse;
  }
  .md th,
  .md td {
    border: 1px solid var(--_border);
    padding: 3px 8px;
  }
  .md a {
    color: var(--_accent);
  }
  .prompt-echo {
    color: var(--_muted);
  }
  .mode-note {
    font-size: 12.5px;
    color: var(--_muted);
    padding: 6px 12px 0;
    border-top: 1px solid var(--_border);
  }
  .mode-note + form {
    border-top: none;
  }
  .cursor::after {
    content: '▍';
    display: inline-block;
    margin-left: 1px;
    color: var(--_muted);
    animation: blink 1s steps(2, start) infinite;
  }
  @keyframes blink {
    to {
      visibility: hidden;
    }
  }
  @media (prefers-reduced-motion: reduce) {
    .cursor::after {
      animation: none;
    }
  }
  .empty-reply {
    color: var(--_muted);
    font-style: italic;
  }
  .stats {
    font-size: 12px;
    color: var(--_muted);
    margin-top: 4px;
    padding: 0 4px;
    font-variant-numeric: tabular-nums;
  }
  .error {
    margin-top: 6px;
    padding: 8px 12px;
    border-radius: 8px;
    background: var(--_error-bg);
    color: var(--_error);
    border: 1px solid color-mix(in srgb, var(--_error) 35%, transparent);
  }
  .error strong {
    display: block;
  }
  .error .detail {
    font-size: 13px;
    overflow-wrap: anywhere;
  }
  .error .technical {
    font-size: 12.5px;
    margin-top: 6px;
    overflow-wrap: anywhere;
    color: var(--_fg);
  }
  .error .technical summary {
    cursor: pointer;
    color: var(--_error);
  }
  .error .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 8px;
    margin-top: 8px;
  }
  .error .hint {
    font-size: 13px;
    margin-top: 4px;
    color: var(--_fg);
  }
  .panel {
    margin: 16px;
    padding: 14px 16px;
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
  }
  .panel.error {
    margin: 16px;
  }
  .status {
    color: var(--_muted);
    text-align: center;
    margin: auto;
    padding: 24px;
    max-width: 32rem;
  }
  .progress-head {
    display: flex;
    justify-content: space-between;
    gap: 12px;
    align-items: baseline;
    margin-bottom: 8px;
  }
  .progress-head .phase {
    font-weight: 600;
  }
  .bar {
    height: 8px;
    border-radius: 4px;
    background: var(--_assistant-bg);
    overflow: hidden;
  }
  .bar > div {
    height: 100%;
    background: var(--_accent);
    border-radius: 4px;
    transition: width 0.2s ease-out;
  }
  .bar.indeterminate > div {
    animation: sweep 1.2s ease-in-out infinite alternate;
  }
  @keyframes sweep {
    from {
      margin-left: 0;
    }
    to {
      margin-left: 70%;
    }
  }
  @media (prefers-reduced-motion: reduce) {
    .bar.indeterminate > div {
      animation: none;
      width: 100% !important;
      opacity: 0.4;
    }
  }
  .progress-detail.model-name {
    margin: -4px 0 8px;
    overflow-wrap: anywhere;
  }
  .progress-detail {
    margin-top: 6px;
    font-size: 13px;
    color: var(--_muted);
    font-variant-numeric: tabular-nums;
  }
  form {
    display: flex;
    gap: 8px;
    padding: 10px 12px;
    border-top: 1px solid var(--_border);
    align-items: flex-end;
    background: var(--_bg);
  }
  textarea {
    flex: 1;
    resize: none;
    font: inherit;
    color: inherit;
    background: var(--_bg);
    border: 1px solid var(--_control-border);
    border-radius: 10px;
    padding: 8px 10px;
    min-height: 2.5rem;
    max-height: 12rem;
    field-sizing: content;
    line-height: 1.4;
  }
  textarea:focus-visible,
  button:focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 1px;
  }
  button {
    font: inherit;
    font-size: 14px;
    border-radius: 10px;
    border: 1px solid transparent;
    padding: 0 14px;
    height: 2.5rem;
    cursor: pointer;
    white-space: nowrap;
  }
  button.primary {
    background: var(--_accent);
    color: var(--_accent-fg);
    font-weight: 600;
  }
  button.secondary {
    background: transparent;
    color: var(--_fg);
    border-color: var(--_control-border);
  }
  button.small {
    height: 2rem;
    padding: 0 10px;
    font-size: 13px;
  }
  button:disabled {
    opacity: 0.5;
    cursor: not-allowed;
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
`;
