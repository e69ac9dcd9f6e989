// batchnorm2d over NCHW, with PyTorch's semantics, optionally fused with ReLU.
//
// Channel c's values are x[n, c, hw] for n < N, hw < HW: `count` = N*HW of them. Per-channel reductions are
// split into `nparts` = N * `blocks` chunks: chunk p is image n = p / blocks, spatial positions
// [b*chunk, min((b+1)*chunk, HW)) with b = p % blocks, so a chunk is contiguous in memory. One workgroup per
// (chunk, channel), then combined per channel in a second pass (no atomics).
//
// No integer division per element: SwiftShader runs 4 invocations as SIMD lanes, and x86 has no SIMD integer
// division, so every `/` or `%` on a per-invocation value is 4 scalar divisions. Chunks are contiguous (no index
// arithmetic in the loop), and the elementwise kernels run one workgroup row per (n, c) plane, so the channel is
// worked out once per invocation and each invocation handles EPI elements of its plane.
//
// Forward, training:  stats_partial (count, chunk mean, chunk M2 by two passes over the chunk)
//                     -> stats_combine (Chan's parallel combine in f32; writes mean/invstd and updates the
//                        running stats in place) -> normalize.
// Forward, eval:      eval_stats (mean/invstd from the running stats) -> normalize.
// Backward:           grad_partial (chunk sums of dy and dy*xhat) -> grad_combine (dbeta, dgamma) -> backward_dx.
//
// The saved statistics are one [2C] buffer, [mean (C), invstd (C)] (one buffer keeps backward_dx within 8
// storage buffers, bias included for the ReLU mask): written as `stats` by stats_combine / eval_stats, read as `saved` by the other kernels.
// Every entry point binds only the variables it uses (the bind group layout is reflected per entry point).

struct Params {
  // elements per channel (N*HW), spatial size HW, channels C
  count: u32,
  hw: u32,
  channels: u32,
  // partial reductions: chunk length (spatial positions), chunks per image plane, chunks per channel (N * blocks)
  chunk: u32,
  blocks: u32,
  nparts: u32,
  // total elements N*C*HW, and planes N*C (elementwise kernels)
  total: u32,
  planes: u32,
  momentum: f32,
  eps: f32,
}

// Fuses max(y, 0) into normalize, and masks dy by y > 0 in the backward kernels (y recomputed there from x).
override RELU: bool = false;
// backward_dx: the training formula (batch statistics depend on x) or eval (fixed running statistics).
override TRAIN: bool = true;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read> saved: array<f32>;
@group(0) @binding(11) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(13) var<storage, read> gsum: array<f32>;
@group(0) @binding(14) var<storage, read_write> dx: array<f32>;
@group(0) @binding(15) var<uniform> params: Params;
// dgamma/dbeta again, read-only, for backward_dx.
@group(0) @binding(16) var<storage, read> dgamma_in: array<f32>;
@group(0) @binding(17) var<storage, read> dbeta_in: array<f32>;

// Threads per workgroup of the chunk reductions: a power of two, chosen per layer from the chunk length, so a
// channel of 20 values is not reduced by 256 threads through 8 barrier levels (barriers are costly on CPU drivers).
override WG: u32 = 256u;
var<workgroup> red_a: array<f32, WG>;
var<workgroup> red_b: array<f32, WG>;

// Chunk p of channel c: its first element in x and its length.
fn chunk_range(c: u32, p: u32) -> vec2u {
  let n = p / params.blocks;
  let b = p - n * params.blocks;
  let start = b * params.chunk;
  return vec2u((n * params.channels + c) * params.hw + start, min(params.chunk, params.hw - start));
}

// Elementwise kernels: workgroup (x, row) covers elements [x*WGE*EPI, (x+1)*WGE*EPI) of plane row = n*C + c (rows
// folded over y and z when there are more than the adapter allows along y). Returns (plane start, channel, first
// position of this invocation, whether the row is a plane at all).
override WGE: u32 = 64u;
override EPI: u32 = 4u;
fn plane_of(lid: u32, wid: vec3u, nwg: vec3u) -> vec4u {
  let row = wid.y + wid.z * nwg.y;
  return vec4u(row * params.hw, row % params.channels, wid.x * WGE * EPI + lid, u32(row < params.planes));
}

// Tree sum of red_a (and red_b) over the workgroup; the result is in [0]. Ends with a barrier.
fn reduce_a(lid: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red_a[lid] += red_a[lid + s];
    }
    workgroupBarrier();
  }
}

fn reduce_ab(lid: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red_a[lid] += red_a[lid + s];
      red_b[lid] += red_b[lid + s];
    }
    workgroupBarrier();
  }
}

// workgroup (p, c): chunk p of channel c -> partials[(c*nparts + p)*3 + {0,1,2}] = (count, mean, M2).
// Two passes over the chunk (mean, then centred squares) keep M2 accurate in f32.
@compute @workgroup_size(WG)
fn stats_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let p = wid.x;
  let c = wid.y;
  let r = chunk_range(c, p);
  let cnt = f32(r.y);
  var acc = 0.0;
  for (var k = lid; k < r.y; k += WG) {
    acc += x[r.x + k];
  }
  red_a[lid] = acc;
  reduce_a(lid);
  let m = red_a[0] / cnt;
  workgroupBarrier();
  var acc2 = 0.0;
  for (var k = lid; k < r.y; k += WG) {
    let d = x[r.x + k] - m;
    acc2 += d * d;
  }
  red_a[lid] = acc2;
  reduce_a(lid);
  if (lid == 0u) {
    let o = (c * params.nparts + p) * 3u;
    partials[o] = cnt;
    partials[o + 1u] = m;
    partials[o + 2u] = red_a[0];
  }
}

// One invocation per channel: Chan's combine of the chunk statistics, then
// mean, invstd = 1/sqrt(biased var + eps), and the running stats updated in place (unbiased var, as PyTorch).
@compute @workgroup_size(64)
fn stats_combine(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= params.channels) {
    return;
  }
  let base = c * params.nparts * 3u;
  var n = partials[base];
  var mean = partials[base + 1u];
  var m2 = partials[base + 2u];
  for (var p = 1u; p < params.nparts; p++) {
    let o = base + p * 3u;
    let nb = partials[o];
    let delta = partials[o + 1u] - mean;
    let tot = n + nb;
    mean += delta * (nb / tot);
    m2 += partials[o + 2u] + delta * delta * (n * (nb / tot));
    n = tot;
  }
  let var_biased = m2 / n;
  let var_unbiased = m2 / (n - 1.0);
  stats[c] = mean;
  stats[params.channels + c] = 1.0 / sqrt(var_biased + params.eps);
  let mo = params.momentum;
  running_mean[c] = (1.0 - mo) * running_mean[c] + mo * mean;
  running_var[c] = (1.0 - mo) * running_var[c] + mo * var_unbiased;
}

// Eval mode: the statistics are the running ones (nothing is updated).
@compute @workgroup_size(64)
fn eval_stats(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= params.channels) {
    return;
  }
  stats[c] = running_mean[c];
  stats[params.channels + c] = 1.0 / sqrt(running_var[c] + params.eps);
}

// y = weight * (x - mean) * invstd + bias, then max(y, 0) with RELU. (Not x * scale + shift: with a large mean
// that would cancel digits.)
@compute @workgroup_size(WGE)
fn normalize(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = plane_of(lid, wid, nwg);
  if (q.w == 0u) {
    return;
  }
  let c = q.y;
  let mean = saved[c];
  let scale = weight[c] * saved[params.channels + c];
  let shift = bias[c];
  for (var k = 0u; k < EPI; k++) {
    let h = q.z + k * WGE;
    if (h < params.hw) {
      var v = (x[q.x + h] - mean) * scale + shift;
      if (RELU) {
        v = max(v, 0.0);
      }
      y[q.x + h] = v;
    }
  }
}

// The upstream gradient of channel c, masked by the ReLU (PyTorch's relu backward: dy where out > 0), with the
// output computed again from x by normalize's own expression: no output is kept for backward.
fn grad_in(i: u32, c: u32) -> f32 {
  if (RELU) {
    let out = (x[i] - saved[c]) * (weight[c] * saved[params.channels + c]) + bias[c];
    return select(0.0, dy[i], out > 0.0);
  }
  return dy[i];
}

// workgroup (p, c): chunk sums of dy and dy*xhat -> partials[(c*nparts + p)*2 + {0,1}].
@compute @workgroup_size(WG)
fn grad_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let p = wid.x;
  let c = wid.y;
  let r = chunk_range(c, p);
  let mean = saved[c];
  let invstd = saved[params.channels + c];
  var sg = 0.0;
  var sgx = 0.0;
  for (var k = lid; k < r.y; k += WG) {
    let i = r.x + k;
    let g = grad_in(i, c);
    sg += g;
    sgx += g * (x[i] - mean) * invstd;
  }
  red_a[lid] = sg;
  red_b[lid] = sgx;
  reduce_ab(lid);
  if (lid == 0u) {
    let o = (c * params.nparts + p) * 2u;
    partials[o] = red_a[0];
    partials[o + 1u] = red_b[0];
  }
}

// One invocation per channel: dbeta = sum(dy), dgamma = sum(dy * xhat) over the chunks.
@compute @workgroup_size(64)
fn grad_combine(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= params.channels) {
    return;
  }
  var sg = 0.0;
  var sgx = 0.0;
  for (var p = 0u; p < params.nparts; p++) {
    let o = (c * params.nparts + p) * 2u;
    sg += gsum[o];
    sgx += gsum[o + 1u];
  }
  dbeta[c] = sg;
  dgamma[c] = sgx;
}

// dx. Training: dx = weight*invstd/n * (n*dy - dbeta - xhat*dgamma); eval: dx = dy*weight*invstd.

// Training: dx = k * (g - dbeta/n - xhat * dgamma/n) with k = weight*invstd, xhat = (x - mean) * invstd; eval:
// dx = k * g. The per-channel factors are read once per invocation.
@compute @workgroup_size(WGE)
fn backward_dx(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = plane_of(lid, wid, nwg);
  if (q.w == 0u) {
    return;
  }
  let c = q.y;
  let mean = saved[c];
  let invstd = saved[params.channels + c];
  let k = weight[c] * invstd;
  var db = 0.0;
  var dg = 0.0;
  if (TRAIN) {
    let n = f32(params.count);
    db = dbeta_in[c] / n;
    dg = dgamma_in[c] / n;
  }
  for (var e = 0u; e < EPI; e++) {
    let h = q.z + e * WGE;
    if (h < params.hw) {
      let i = q.x + h;
      let g = grad_in(i, c);
      if (TRAIN) {
        dx[i] = k * (g - db - (x[i] - mean) * invstd * dg);
      } else {
        dx[i] = g * k;
      }
    }
  }
}
