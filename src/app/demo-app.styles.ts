/** The demo page's styles: its palette (light and dark), header and picker, fit banner, layout, story chips, side panel and drop overlay. */
import { css } from 'lit';

export const demoAppStyles = css`
  :host {
    --bg: #ffffff;
    --fg: #1d2026;
    --muted: #5f6773;
    --border: #d8dce2;
    /* Boundaries of controls (inputs, buttons): at least 3:1 against the page (WCAG 1.4.11). */
    --control-border: #7c8591;
    --accent: #2f6fed;
    --accent-fg: #ffffff;
    --panel: #f7f8fa;
    --warn-bg: #fff8e6;
    --warn-border: #f0c36d;
    --track: #e7eaef;
    --danger: #b42318;
    display: grid;
    grid-template-rows: auto auto 1fr;
    height: 100%;
    background: var(--bg);
    color: var(--fg);
    font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
    position: relative;
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --bg: #15181d;
      --fg: #e5e8ec;
      --muted: #9aa3ae;
      --border: #2e343d;
      --control-border: #7d8794;
      --accent: #6d9dff;
      --accent-fg: #0b1020;
      --panel: #1b1f25;
      --warn-bg: #3a2f12;
      --warn-border: #8a6a1c;
      --track: #2a3039;
      --danger: #ff9b91;
    }
  }
  header {
    display: flex;
    flex-wrap: wrap;
    gap: 8px 12px;
    align-items: center;
    padding: 10px 16px;
    border-bottom: 1px solid var(--border);
  }
  .brand {
    font-weight: 700;
    font-size: 17px;
    display: flex;
    align-items: center;
    gap: 8px;
    margin-right: 4px;
  }
  .brand img {
    width: 24px;
    height: 24px;
  }
  select,
  button {
    font: inherit;
    font-size: 14px;
    color: inherit;
    background: var(--bg);
    border: 1px solid var(--control-border);
    border-radius: 8px;
    padding: 6px 10px;
  }
  /* The picker takes the rest of the row and shrinks below its longest option (a native select
     is otherwise as wide as that, wider than a phone). */
  .picker {
    display: flex;
    gap: 6px;
    flex: 1 1 16rem;
    min-width: 0;
    max-width: 36rem;
  }
  .picker select {
    flex: 1;
    min-width: 0;
    width: 100%;
    text-overflow: ellipsis;
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
  select:focus-visible,
  button:focus-visible {
    outline: 2px solid var(--accent);
    outline-offset: 1px;
  }
  .lab-link {
    color: var(--accent);
    font-size: 14px;
  }
  .info {
    color: var(--muted);
    font-size: 13px;
    flex-basis: 100%;
  }
  .banner {
    margin: 10px 16px 0;
    padding: 10px 14px;
    border: 1px solid var(--warn-border);
    background: var(--warn-bg);
    border-radius: 10px;
  }
  .banner ul {
    margin: 6px 0;
    padding-left: 1.2em;
  }
  .banner .buttons {
    display: flex;
    gap: 8px;
    margin-top: 6px;
  }
  .entry-form {
    margin: 10px 16px 0;
    padding: 10px 14px;
    border: 1px solid var(--control-border);
    border-radius: 10px;
    display: flex;
    flex-wrap: wrap;
    gap: 8px 12px;
    align-items: end;
  }
  .entry-form p {
    margin: 0;
    flex-basis: 100%;
  }
  .entry-form label {
    display: flex;
    flex-direction: column;
    gap: 4px;
    font-size: 13px;
    flex: 1 1 14rem;
  }
  .entry-form input {
    font: inherit;
    font-size: 14px;
    color: inherit;
    background: var(--bg);
    border: 1px solid var(--control-border);
    border-radius: 8px;
    padding: 6px 10px;
  }
  .entry-form input:focus-visible {
    outline: 2px solid var(--accent);
    outline-offset: 1px;
  }
  .entry-form .problem {
    flex-basis: 100%;
    color: var(--danger);
  }
  .entry-form .problem:empty {
    display: none;
  }
  .entry-form .buttons {
    display: flex;
    gap: 8px;
  }
  .body {
    display: flex;
    min-height: 0;
    gap: 0;
  }
  main {
    flex: 1;
    min-width: 0;
    display: flex;
    flex-direction: column;
    padding: 12px 16px 16px;
    gap: 8px;
    max-width: 64rem;
    margin: 0 auto;
    width: 100%;
    box-sizing: border-box;
  }
  /* Idle only until the start-up picks a model: "No model loaded yet." would just flash. */
  llm-chat.starting::part(status) {
    visibility: hidden;
  }
  llm-chat {
    flex: 1;
    --llm-chat-height: auto;
    min-height: 0;
  }
  .chips {
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
  }
  .chips button {
    border-radius: 999px;
    font-size: 13px;
    padding: 4px 12px;
    color: var(--muted);
  }
  aside {
    order: 2;
    position: relative;
    width: min(24rem, 90vw);
    border-left: 1px solid var(--border);
    background: var(--panel);
    padding: 14px 16px;
    overflow-y: auto;
    box-sizing: border-box;
  }
  aside .close {
    position: absolute;
    top: 8px;
    right: 10px;
    font-size: 20px;
    line-height: 1;
    padding: 4px 10px;
  }
  .drop {
    position: absolute;
    inset: 8px;
    border: 3px dashed var(--accent);
    border-radius: 16px;
    background: color-mix(in srgb, var(--bg) 85%, transparent);
    display: grid;
    place-items: center;
    font-size: 20px;
    font-weight: 600;
    pointer-events: none;
    z-index: 10;
  }
  /* Narrow screens: the panel covers the page (header included) and has its own Close button. */
  @media (max-width: 720px) {
    header {
      padding: 8px 10px;
    }
    main {
      padding: 8px 8px 10px;
    }
    aside {
      position: fixed;
      inset: 0;
      width: auto;
      border-left: none;
      z-index: 5;
    }
  }
`;
