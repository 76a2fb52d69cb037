// The KW = CW/4 consecutive code words of a 2-bit chunk (dec_tq2_0, dec_i2_s: four planes of CW/4
// vec4s each) from word index w0: 16-byte loads when the chunk is whole 16-byte words (the
// mat-vec's 32-vec4 chunks, w0 a multiple of 4), word loads otherwise (the GEMM's 8-vec4 chunks).
fn code_words(w0: u32) -> array<u32, {{CW / 4}}> {
#for V in 0..{{CW / 16}}
  let v{{V}} = W4[(w0 >> 2u) + {{V}}u];
#endfor
  return array<u32, {{CW / 4}}>(
#for V in 0..{{CW / 16}}
    v{{V}}.x, v{{V}}.y, v{{V}}.z, v{{V}}.w,
#endfor
#for K in 0..{{CW % 16 / 4}}
    W[w0 + {{K}}u],
#endfor
  );
}
