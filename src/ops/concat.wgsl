// concat: channel-slice copies between a dense NCHW tensor [N, c, H, W] and channels [c_off, c_off + c) of a
// tensor [N, c_total, H, W]. Concatenation along channels is one `copy_into` per input; its backward is one `copy_slice`
// per input (each input's channel slice of the output gradient).
// copy_into:  dst[b, c_off + ch, :] = src[b, ch, :]  (one invocation per element of src)
// copy_slice: dst[b, ch, :] = src[b, c_off + ch, :]  (one invocation per element of dst)
struct Params {
  n: u32,       // N * c * hw
  c: u32,
  hw: u32,
  c_off: u32,
  c_total: u32,
}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn sliced(i: u32) -> u32 {
  let nc = i / params.hw;
  let r = i - nc * params.hw;
  let b = nc / params.c;
  let ch = nc - b * params.c;
  return (b * params.c_total + params.c_off + ch) * params.hw + r;
}

@compute @workgroup_size(256)
fn copy_into(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    dst[sliced(i)] = src[i];
  }
}

@compute @workgroup_size(256)
fn copy_slice(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    dst[i] = src[sliced(i)];
  }
}
