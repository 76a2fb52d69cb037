// Half-precision helpers that need no shader-f16: an f16 (or bf16) is 16 bits of a u32 word.
// `half_at` takes the word holding the value and which half (0 = low bits, 1 = high bits).

fn f16_lo(w: u32) -> f32 { return unpack2x16float(w).x; }
fn f16_hi(w: u32) -> f32 { return unpack2x16float(w).y; }
fn f16_half(w: u32, hi: u32) -> f32 { return unpack2x16float(w >> (hi * 16u)).x; }

// bf16 is the top 16 bits of an f32.
fn bf16_lo(w: u32) -> f32 { return bitcast<f32>(w << 16u); }
fn bf16_hi(w: u32) -> f32 { return bitcast<f32>(w & 0xffff0000u); }
