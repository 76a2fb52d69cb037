/**
 * The model the demo reopens on its next visit (localStorage), in one place: the demo writes it
 * when a model loads, the quantization lab's "Chat" button writes a stored model before opening
 * the demo.
 */
export const LAST_MODEL_KEY = 'lowbit.lastModel';

export type LastModelChoice = { kind: 'entry'; key: string } | { kind: 'stored'; id: string };
