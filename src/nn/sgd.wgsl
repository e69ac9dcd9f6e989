// SGD, PyTorch semantics (dampening 0, no Nesterov): g = grad + wd * p; with momentum,
// buf = (first step ? g : mu * buf + g) and g = buf; then p -= lr * g.
// The `_scaled` entries (loss scaling, src/nn/loss-scale.ts) divide the gradient by the loss scale and skip the
// update when the step overflowed f16; their first step is the loss scaler's first step taken.
// One dispatch updates a whole flat parameter buffer.
struct Params {
  n: u32,
  lr: f32,
  momentum: f32,
  weight_decay: f32,
  first_step: u32,
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> momentum_buf: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
/** The loss scaler's step: (1/scale, skip, t, 0) (loss_scale.wgsl's prepare). */
@group(0) @binding(4) var<storage, read> scaler_step: vec4f;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

fn plain(i: u32, gradient: f32) {
  param[i] = param[i] - params.lr * (gradient + params.weight_decay * param[i]);
}

fn with_momentum(i: u32, gradient: f32, first_step: bool) {
  let g = gradient + params.weight_decay * param[i];
  var b = g;
  if (!first_step) {
    b = params.momentum * momentum_buf[i] + g;
  }
  momentum_buf[i] = b;
  param[i] = param[i] - params.lr * b;
}

@compute @workgroup_size(256)
fn step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < params.n) {
    plain(i, grad[i]);
  }
}

@compute @workgroup_size(256)
fn step_momentum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < params.n) {
    with_momentum(i, grad[i], params.first_step != 0u);
  }
}

@compute @workgroup_size(256)
fn step_scaled(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  let s = scaler_step;
  if (i < params.n && s.y == 0.0) {
    plain(i, grad[i] * s.x);
  }
}

@compute @workgroup_size(256)
fn step_momentum_scaled(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  let s = scaler_step;
  if (i < params.n && s.y == 0.0) {
    with_momentum(i, grad[i] * s.x, s.z == 1.0);
  }
}
