// sum of all elements, times a scale (1 for sum, 1/n for mean), in two passes: `partial` has each of up to
// 256 workgroups reduce a grid-strided share into partials[w]; `partial` again over the partials with one
// workgroup gives the result. Backward (`broadcast`): dx[i] = dy[0] * scale.
struct Params {
  n: u32,
  scale: f32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> shared_sums: array<f32, 256>;

@compute @workgroup_size(256)
fn partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  var acc = 0.0;
  let stride = nwg.x * 256u;
  for (var i = wid.x * 256u + lid; i < params.n; i += stride) {
    acc += x[i];
  }
  shared_sums[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) {
      shared_sums[lid] += shared_sums[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[wid.x] = shared_sums[0] * params.scale;
  }
}

@compute @workgroup_size(256)
fn broadcast(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    out[i] = x[0] * params.scale;
  }
}
