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
/** The loss scaler's state (loss_scale.wgsl declares it whole). */
struct ScalerState {
  scale: f32,
  inv_scale: f32,
  good_steps: u32,
  steps: u32,
  skipped: u32,
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> momentum_buf: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> scaler: ScalerState;
@group(0) @binding(5) var<storage, read> f16_overflow: array<u32>;

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
  if (i < params.n && f16_overflow[0] == 0u) {
    plain(i, grad[i] * scaler.inv_scale);
  }
}

@compute @workgroup_size(256)
fn step_momentum_scaled(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < params.n && f16_overflow[0] == 0u) {
    with_momentum(i, grad[i] * scaler.inv_scale, scaler.steps == 0u);
  }
}
