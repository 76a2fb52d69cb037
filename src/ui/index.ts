/**
 * The embeddable bundle: importing this module defines <llm-chat>. Built as dist/llm-chat.js, so a
 * page needs only
 *
 *   <script type="module" src="/llm-chat.js"></script>
 *   <llm-chat model="/models/tinystories-llama-3M-Q4_K_M.gguf"></llm-chat>
 */
import { defineLlmChat } from './llm-chat.ts';

export { LlmChat, defineLlmChat } from './llm-chat.ts';
export type {
  ChatMode,
  ChatState,
  EngineLoader,
  LlmDoneDetail,
  LlmErrorDetail,
  LlmProgressDetail,
  LlmReadyDetail,
  LlmTokenDetail,
} from './llm-chat.ts';
export { EngineWorker } from '../engine/worker-client.ts';
export { spawnEngineWorker } from './spawn-worker.ts';
export { openaiClient } from '../engine/openai.ts';
export { RemoteEngine, remoteOpenaiClient, type RemoteOptions } from '../engine/remote.ts';
export * as errors from '../errors.ts';

defineLlmChat();
