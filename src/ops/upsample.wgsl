// upsample: nearest-neighbour upsampling of NCHW by an integer factor s (PyTorch's mode='nearest':
// out[oy, ox] = x[oy / s, ox / s]). The output may be a channel slice of a larger tensor, so that the decoder's
// cat([upsample(x), skip], dim=1) needs no intermediate: channel c of x goes to channel c_off + c of an output
// with c_total channels.
// forward: one invocation per written output element.
// backward: one invocation per input element, summing its s x s block of the (sliced) output gradient.
struct Params {
  n: u32,       // forward: N * c * (h * s) * (w * s); backward: N * c * h * w
  c: u32,       // channels of x
  h: u32,
  w: u32,
  s: u32,
  c_off: u32,   // first output channel written
  c_total: u32, // channels of the output tensor
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let oh = params.h * params.s;
  let ow = params.w * params.s;
  let plane = oh * ow;
  let nc = i / plane; // n * c + channel
  let r = i - nc * plane;
  let oy = r / ow;
  let ox = r - oy * ow;
  let b = nc / params.c;
  let ch = nc - b * params.c;
  let src = (nc * params.h + oy / params.s) * params.w + ox / params.s;
  out[(b * params.c_total + params.c_off + ch) * plane + r] = x[src];
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let plane = params.h * params.w;
  let nc = i / plane;
  let r = i - nc * plane;
  let iy = r / params.w;
  let ix = r - iy * params.w;
  let b = nc / params.c;
  let ch = nc - b * params.c;
  let ow = params.w * params.s;
  let out_base = (b * params.c_total + params.c_off + ch) * (params.h * params.s) * ow;
  var acc = 0.0;
  for (var dy = 0u; dy < params.s; dy++) {
    let row = out_base + (iy * params.s + dy) * ow + ix * params.s;
    for (var dxx = 0u; dxx < params.s; dxx++) {
      acc += dout[row + dxx];
    }
  }
  dx[i] = acc;
}
