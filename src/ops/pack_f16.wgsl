// pack_f16: f32 values stored as f16 pairs in u32 words (pack2x16float: core WGSL, every adapter), and back.
// pack: packed[i] = (x[2i], x[2i+1]) rounded to f16; a last odd element is paired with 0. Values beyond f16's
// finite range (|x| > 65504) are clamped to it first: WGSL leaves pack2x16float of such values indeterminate, and a
// saturated activation is a smaller error than an infinity reaching a gradient. unpack: out[j] = f32 of the jth half.
struct Params {
  n: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> packed: array<u32>;
@group(0) @binding(2) var<storage, read> words: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const F16_MAX = 65504.0;

@compute @workgroup_size(256)
fn pack(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let j = 2u * i;
  if (j >= params.n) {
    return;
  }
  var hi = 0.0;
  if (j + 1u < params.n) {
    hi = x[j + 1u];
  }
  packed[i] = pack2x16float(clamp(vec2f(x[j], hi), vec2f(-F16_MAX), vec2f(F16_MAX)));
}

@compute @workgroup_size(256)
fn unpack(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let j = 2u * i;
  if (j >= params.n) {
    return;
  }
  let v = unpack2x16float(words[i]);
  out[j] = v.x;
  if (j + 1u < params.n) {
    out[j + 1u] = v.y;
  }
}
