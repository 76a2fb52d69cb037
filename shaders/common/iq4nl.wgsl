// kvalues_iq4nl, the 16 non-linear levels of IQ4_NL and IQ4_XS (denser near zero), as f32 codes.
const IQ4NL_T = array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
fn iq4nl_levels(n: vec4<u32>) -> vec4<f32> { return vec4<f32>(IQ4NL_T[n.x], IQ4NL_T[n.y], IQ4NL_T[n.z], IQ4NL_T[n.w]); }
