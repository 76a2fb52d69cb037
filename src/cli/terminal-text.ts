/**
 * Text from outside (GGUF strings, tensor names, file names, server messages, model output) must
 * not reach a terminal raw: ESC and CSI sequences can retitle the window, clear the screen, hide or
 * fake lines, and some terminals answer queries by typing into the shell. Every CLI text output
 * passes file- or network-provided strings through these two functions at the point it writes.
 */

// C0 controls, DEL and C1 controls (U+0080–U+009F: U+009B alone is CSI on many terminals).
// eslint-disable-next-line no-control-regex -- matching control characters is this module's job
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
// eslint-disable-next-line no-control-regex -- as above
const CONTROL_BUT_LINES = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
const hex = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/**
 * `text` with every control character shown as `\xNN`. `keepLines` keeps newline and tab, for
 * multi-line text whose lines are content (generated text, stack traces); a value printed inside
 * a line (a name, a cell of a table) must not keep them, or it could forge lines of its own.
 */
export function escapeControl(text: string, keepLines = false): string {
  return text.replace(keepLines ? CONTROL_BUT_LINES : CONTROL, hex);
}

/**
 * JSON.stringify for output that may reach a terminal. JSON.stringify escapes C0 controls but
 * leaves DEL and C1 controls raw; they can only occur inside strings, where `\u00NN` is the same
 * value, so the output still parses to exactly the same data.
 */
export function terminalJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\x7f-\x9f]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}
