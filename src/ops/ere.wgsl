// ere: the expected radial error of each heatmap (McCouat & Voiculescu's calculate_ere), inference only.
// One workgroup per map (grid-folded into y). With z = logits / T[l] over the map's H*W pixels:
//   argmax   the first pixel (in scan order y*W + x) with the largest z; ties go to the smallest index;
//   modeProb the map's largest probability = 1 / sum_i exp(z_i - max z);
//   ere      with r_i = exp(z_i - max z) = p_i / max p, the pixels with r_i > cutoff are kept (the reference's
//            `heatmap / max > cutoff`), renormalised, and
//            ere = sum_kept r_i * d_i / sum_kept r_i,  d_i = sqrt((dx_i * sx)^2 + (dy_i * sy)^2) in mm,
//            (dx_i, dy_i) = pixel i minus the argmax pixel, (sx, sy) = pixel_mm[n] (mm per pixel in x and y).
// The argmax pixel itself always has r = 1 > cutoff (cutoff < 1), so the kept weight is never zero.
//
// Entry point:
//   ere   the three outputs of one map per workgroup: a grid-strided scan for (max z, first argmax), a tree
//         reduction, then one grid-strided pass summing exp, kept weights and kept weighted distances.
struct Params {
  hw: u32,
  width: u32,
  nmaps: u32,
  nland: u32,
  cutoff: f32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> temps: array<f32>;
@group(0) @binding(2) var<storage, read> pixel_mm: array<f32>;
@group(0) @binding(3) var<storage, read_write> ere_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> mode_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> argmax_out: array<i32>;
@group(0) @binding(6) var<uniform> params: Params;

// Invocations per workgroup (a power of two): 256 on GPUs; src/ops/ere.ts sets 4 on CPU adapters, where each
// barrier of the trees below switches coroutines (and the 256-wide version took ~0.9 s to compile on SwiftShader).
override WG: u32 = 256u;
const BLOCK: u32 = 64u;
const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red_s: array<f32, WG>;
var<workgroup> red_k: array<f32, WG>;
var<workgroup> red_d: array<f32, WG>;

@compute @workgroup_size(WG)
fn ere(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= params.nmaps) {
    return;
  }
  let hw = params.hw;
  let base = m * hw;
  let t = temps[m % params.nland];
  let img = m / params.nland;

  // (max z, first index): a thread visits its indices in increasing order, so a strict > keeps the first.
  var bv = LOWEST;
  var bi = 0xffffffffu;
  for (var i = lid; i < hw; i += WG) {
    let z = logits[base + i] / t;
    if (z > bv || bi == 0xffffffffu) {
      bv = z;
      bi = i;
    }
  }
  red_v[lid] = bv;
  red_i[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = red_v[lid + s];
      let oi = red_i[lid + s];
      let cv = red_v[lid];
      let ci = red_i[lid];
      // An empty slot (index 0xffffffff) never wins; otherwise the larger value, then the smaller index.
      if (oi != 0xffffffffu && (ci == 0xffffffffu || ov > cv || (ov == cv && oi < ci))) {
        red_v[lid] = ov;
        red_i[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  let zmax = red_v[0];
  let am = red_i[0];
  let ax = f32(am % params.width);
  let ay = f32(am / params.width);
  let sx = pixel_mm[2u * img];
  let sy = pixel_mm[2u * img + 1u];

  // Summed in blocks of BLOCK values per invocation, the blocks' sums then added: with 4 invocations a map of
  // 640x800 would otherwise put 128000 terms into one f32 sum (a relative error near 1e-4 instead of 1e-6).
  var s_all = 0.0;
  var s_keep = 0.0;
  var s_dist = 0.0;
  for (var b = lid; b < hw; b += WG * BLOCK) {
    var b_all = 0.0;
    var b_keep = 0.0;
    var b_dist = 0.0;
    let end = min(b + WG * BLOCK, hw);
    for (var i = b; i < end; i += WG) {
      let r = exp(logits[base + i] / t - zmax);
      b_all += r;
      if (r > params.cutoff) {
        let dx = (f32(i % params.width) - ax) * sx;
        let dy = (f32(i / params.width) - ay) * sy;
        b_keep += r;
        b_dist += r * sqrt(dx * dx + dy * dy);
      }
    }
    s_all += b_all;
    s_keep += b_keep;
    s_dist += b_dist;
  }
  red_s[lid] = s_all;
  red_k[lid] = s_keep;
  red_d[lid] = s_dist;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red_s[lid] += red_s[lid + s];
      red_k[lid] += red_k[lid + s];
      red_d[lid] += red_d[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    ere_out[m] = red_d[0] / red_k[0];
    // The sum holds exp(0) = 1 for the max, so it is >= 1; GPU exp approximations (seen on NVIDIA: exp(0) a few
    // ulps under 1) could otherwise make the mode probability exceed 1.
    mode_out[m] = 1.0 / max(red_s[0], 1.0);
    argmax_out[m] = i32(am);
  }
}
