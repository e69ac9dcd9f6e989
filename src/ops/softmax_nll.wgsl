// softmax_nll: the Contour-Hugging Heatmaps training loss, fused. For each of the N*L maps (one workgroup per
// map, grid-folded into y), with z = logits / T[l] over the map's H*W pixels and t the target pixel:
//   loss_map = log(sum_i exp(z_i - max z)) + max z - z_t            (= -log softmax(z)_t, numerically stable)
// The loss is the mean of loss_map over the N*L maps (`mean_losses`, a second one-workgroup launch).
//
// Entry points:
//   forward       per-map losses only (no gradient needed).
//   forward_dt    per-map losses and the per-map temperature gradient dtmap (logits need no gradient).
//   forward_grad  per-map losses, dtmap, and the logits gradient for an upstream gradient of 1:
//                 grad_i = (p_i - [i == t]) / (T * N*L), p = softmax(z).
//   mean_losses   out[0] = (sum of per-map losses) / (N*L), one workgroup.
//   scale_grad    backward: grad *= gout[0] in place (the saved logits gradient becomes the real one).
//   temp_grad     backward: dtemp[l] = gout[0] * sum_n dtmap[n*L + l].
//
// dtmap[m] = -(1/T^2) * sum_i p_i * (x_i - x_t) / (N*L), which equals -(1/T^2) * sum_i (p_i - onehot_i) x_i / (N*L)
// because sum_i p_i = 1; the form with x_i - x_t does not cancel when p concentrates on the target.
//
// A target outside [0, H*W) cannot be reported from here: that map's loss, dtmap and gradient are NaN, so the mean
// is NaN. Every pass computes z_i with the same expression logits[base + i] / T, so max z is bitwise one of the
// z_i and exp(z_i - max z) <= 1 exactly.
//
// Precision (WGSL has no f64): each thread sums exp(z - max) serially over its grid-strided share (at most
// ceil(H*W / 256) terms, each in (0, 1]), then a pairwise tree over the 256 partials; the sum S is in [1, H*W] and
// its relative error (~1e-6) becomes an absolute error of the same size in log(S). max z - z_t is one f32
// subtraction. The mean over maps is a serial sum per thread over a strided share (one value per thread up to 256
// maps) and then a pairwise tree: all terms are >= 0, so its relative error is ~1e-7 * log2(N*L). Together this
// matches PyTorch's float64 mean to ~1e-6 relative.
struct Params {
  hw: u32,
  nmaps: u32,
  nland: u32,
  inv_count: f32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> temps: array<f32>;
@group(0) @binding(2) var<storage, read> tgts: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> dtmap: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<storage, read> gout: array<f32>;
@group(0) @binding(8) var<storage, read_write> dtemp: array<f32>;
@group(0) @binding(9) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> red: array<f32, 256>;

fn reduce_max(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = red[lid] + red[lid + s];
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn nan_f32() -> f32 {
  // A runtime value (a constant expression may not evaluate to NaN).
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

struct MapInfo {
  base: u32,
  t: f32,
  // the target pixel, clamped to 0 when invalid
  ti: u32,
  valid: bool,
}

fn map_info(m: u32) -> MapInfo {
  let tg = tgts[m];
  let valid = tg >= 0 && u32(tg) < params.hw;
  return MapInfo(m * params.hw, temps[m % params.nland], select(0u, u32(tg), valid), valid);
}

fn zval(base: u32, i: u32, t: f32) -> f32 {
  return logits[base + i] / t;
}

struct MapStats {
  zmax: f32,
  sumexp: f32,
}

fn map_stats(info: MapInfo, lid: u32) -> MapStats {
  let hw = params.hw;
  var mx = LOWEST;
  for (var i = lid; i < hw; i += WG) {
    mx = max(mx, zval(info.base, i, info.t));
  }
  let zmax = reduce_max(mx, lid);
  var s = 0.0;
  for (var i = lid; i < hw; i += WG) {
    s += exp(zval(info.base, i, info.t) - zmax);
  }
  return MapStats(zmax, reduce_sum(s, lid));
}

fn map_loss(info: MapInfo, st: MapStats) -> f32 {
  let loss = log(st.sumexp) + (st.zmax - zval(info.base, info.ti, info.t));
  return select(nan_f32(), loss, info.valid);
}

@compute @workgroup_size(256)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= params.nmaps) {
    return;
  }
  let info = map_info(m);
  let st = map_stats(info, lid);
  if (lid == 0u) {
    losses[m] = map_loss(info, st);
  }
}

@compute @workgroup_size(256)
fn forward_dt(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= params.nmaps) {
    return;
  }
  let info = map_info(m);
  let st = map_stats(info, lid);
  let inv_s = 1.0 / st.sumexp;
  let xt = logits[info.base + info.ti];
  var acc = 0.0;
  for (var i = lid; i < params.hw; i += WG) {
    let p = exp(zval(info.base, i, info.t) - st.zmax) * inv_s;
    acc += p * (logits[info.base + i] - xt);
  }
  let dsum = reduce_sum(acc, lid);
  if (lid == 0u) {
    losses[m] = map_loss(info, st);
    dtmap[m] = select(nan_f32(), -dsum / (info.t * info.t) * params.inv_count, info.valid);
  }
}

@compute @workgroup_size(256)
fn forward_grad(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= params.nmaps) {
    return;
  }
  let info = map_info(m);
  let st = map_stats(info, lid);
  let inv_s = 1.0 / st.sumexp;
  let gscale = params.inv_count / info.t;
  let xt = logits[info.base + info.ti];
  let nanv = nan_f32();
  var acc = 0.0;
  for (var i = lid; i < params.hw; i += WG) {
    let p = exp(zval(info.base, i, info.t) - st.zmax) * inv_s;
    let onehot = select(0.0, 1.0, i == info.ti);
    grad[info.base + i] = select(nanv, (p - onehot) * gscale, info.valid);
    acc += p * (logits[info.base + i] - xt);
  }
  let dsum = reduce_sum(acc, lid);
  if (lid == 0u) {
    losses[m] = map_loss(info, st);
    dtmap[m] = select(nanv, -dsum / (info.t * info.t) * params.inv_count, info.valid);
  }
}

@compute @workgroup_size(256)
fn mean_losses(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < params.nmaps; i += WG) {
    acc += losses[i];
  }
  let total = reduce_sum(acc, lid);
  if (lid == 0u) {
    out[0] = total * params.inv_count;
  }
}

@compute @workgroup_size(256)
fn scale_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.hw * params.nmaps) {
    grad[i] = grad[i] * gout[0];
  }
}

@compute @workgroup_size(64)
fn temp_grad(@builtin(global_invocation_id) gid: vec3u) {
  let l = gid.x;
  if (l >= params.nland) {
    return;
  }
  var acc = 0.0;
  for (var m = l; m < params.nmaps; m += params.nland) {
    acc += dtmap[m];
  }
  dtemp[l] = acc * gout[0];
}
