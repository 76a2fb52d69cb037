// What decode attention's passes (attention_decode.wgsl, attention_decode_rows.wgsl) know of the
// query row a workgroup serves. One token: the step's row (step.row), kv_len from the step params,
// the caches' only slot and the first partials block. ROWS (a batched decode step,
// src/runtime/batch-decode.ts): row z of the row table, a sequence at position rows[z].x whose
// cache is slot rows[z].y (slot s starts s·SLOT_K elements into the K cache, s·SLOT_V into the V
// cache), with kv_len = rows[z].x + 1 and partials block z. The including kernel declares `step`
// (one token) or `rows` (ROWS), and MAXCTX, MIN_CHUNK, NSPLIT, NH and PSTRIDE.
#if ROWS
const SLOT_K: u32 = {{SLOT_K}}u;
const SLOT_V: u32 = {{SLOT_V}}u;
#endif

struct DecodeRow {
  row: u32,
  kv_len: u32,
  /** The row's first partials value. */
  parts: u32,
  /** The row's slot: its first vec4 of the K cache, its first f32 of the V cache. */
  k4: u32,
  v: u32,
}

fn decode_row(z: u32) -> DecodeRow {
#if ROWS
  return DecodeRow(z, min(rows[z].x + 1u, MAXCTX), z * NH * NSPLIT * PSTRIDE, rows[z].y * (SLOT_K / 4u), rows[z].y * SLOT_V);
#else
  return DecodeRow(step.row, min(step.kv_len, MAXCTX), 0u, 0u, 0u);
#endif
}

// Chunks of the row's positions the split-K pass uses (createDecodeAttention's activeSplits).
fn active_splits(kv_len: u32) -> u32 {
  return clamp((kv_len + MIN_CHUNK - 1u) / MIN_CHUNK, 1u, NSPLIT);
}
