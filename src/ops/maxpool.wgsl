// maxpool: 2-D max pooling over NCHW planes, PyTorch semantics (floor output size, padding is -infinity and
// never chosen, ties go to the first maximum in row-major scan order, NaN wins as in PyTorch).
// forward: one invocation per 4 consecutive outputs; writes each max, and for the backward pass where in its
//   window it was: the code (iy - y0) * k + (ix - x0) (< k*k <= 256), one byte per output, four to a word (the
//   output i's in byte i % 4 of word i / 4): a quarter of an i32 index per output.
// backward: a gather, no atomics: one invocation per input element sums the output gradients of the windows
//   that can cover it and whose code points at this element.
struct Params {
  n: u32,       // forward: number of outputs (planes * oh * ow); backward: number of inputs (planes * h * w)
  words: u32,   // forward: ceil(n / 4), the words of codes
  h: i32,
  w: i32,
  oh: i32,
  ow: i32,
  k: i32,       // kernel size (square)
  stride: i32,
  pad: i32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> positions: array<u32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> saved: array<u32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

// By bits: `v != v` may be folded away, as WGSL implementations need not honour NaN.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

struct Pooled {
  best: f32,
  code: u32, // (iy - y0) * k + (ix - x0) of the element chosen
}

/** Output i's max, and where in its window it was. */
fn pool(i: u32) -> Pooled {
  let out_plane = u32(params.oh * params.ow);
  let p = i / out_plane;
  let r = i32(i - p * out_plane);
  let oy = r / params.ow;
  let ox = r - oy * params.ow;
  let y0 = oy * params.stride - params.pad;
  let x0 = ox * params.stride - params.pad;
  let y_start = max(y0, 0);
  let y_end = min(y0 + params.k, params.h);
  let x_start = max(x0, 0);
  let x_end = min(x0 + params.k, params.w);
  let base = p * u32(params.h * params.w);
  // PyTorch starts from -infinity at the window's first in-bounds element; starting from that element's value
  // gives the same result (and the same index when it is -infinity) without an infinite constant.
  var best_y = y_start;
  var best_x = x_start;
  var best = x[base + u32(y_start * params.w + x_start)];
  for (var iy = y_start; iy < y_end; iy++) {
    for (var ix = x_start; ix < x_end; ix++) {
      let v = x[base + u32(iy * params.w + ix)];
      if (v > best || is_nan(v)) {
        best = v;
        best_y = iy;
        best_x = ix;
      }
    }
  }
  return Pooled(best, u32((best_y - y0) * params.k + (best_x - x0)));
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 256u;
  if (j >= params.words) {
    return;
  }
  var codes = 0u;
  for (var b = 0u; b < 4u; b++) {
    let i = 4u * j + b;
    if (i < params.n) {
      let r = pool(i);
      y[i] = r.best;
      codes |= r.code << (8u * b);
    }
  }
  positions[j] = codes;
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let in_plane = u32(params.h * params.w);
  let p = i / in_plane;
  let at = i32(i - p * in_plane);
  let iy = at / params.w;
  let ix = at - iy * params.w;
  // Windows oy with oy * stride - pad <= iy <= oy * stride - pad + k - 1.
  let ay = iy + params.pad - params.k + 1;
  let ax = ix + params.pad - params.k + 1;
  let oy_lo = select(0, (ay + params.stride - 1) / params.stride, ay > 0);
  let ox_lo = select(0, (ax + params.stride - 1) / params.stride, ax > 0);
  let oy_hi = min((iy + params.pad) / params.stride, params.oh - 1);
  let ox_hi = min((ix + params.pad) / params.stride, params.ow - 1);
  let base = p * u32(params.oh * params.ow);
  var acc = 0.0;
  for (var oy = oy_lo; oy <= oy_hi; oy++) {
    for (var ox = ox_lo; ox <= ox_hi; ox++) {
      let o = base + u32(oy * params.ow + ox);
      let code = i32((saved[o >> 2u] >> (8u * (o & 3u))) & 0xffu);
      if (code == (iy - (oy * params.stride - params.pad)) * params.k + (ix - (ox * params.stride - params.pad))) {
        acc += dy[o];
      }
    }
  }
  dx[i] = acc;
}
