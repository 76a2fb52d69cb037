// Per-step values, written by the CPU with queue.writeBuffer before each step (src/kernels/step-params.ts).
// One uniform buffer of 16 bytes:
//   pos0      position of this step's first token (decode: the current position)
//   n_tokens  tokens in this step (decode: 1; prefill: T, at most the kernel's maxTokens)
//   kv_len    pos0 + n_tokens: valid KV-cache positions once this step's rows are written; the
//             sampled token of this step belongs at position kv_len of the token history
//   row       batched decode (src/runtime/batch-decode.ts): the row of this sequence's token in
//             the step's activations, which RoPE and decode attention read and write; 0 otherwise
struct StepParams {
  pos0: u32,
  n_tokens: u32,
  kv_len: u32,
  row: u32,
}
