// SGD, PyTorch semantics (dampening 0, no Nesterov): g = grad + wd * p; with momentum,
// buf = (first step ? g : mu * buf + g) and g = buf; then p -= lr * g.
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

@compute @workgroup_size(256)
fn step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    param[i] = param[i] - params.lr * (grad[i] + params.weight_decay * param[i]);
  }
}

@compute @workgroup_size(256)
fn step_momentum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let g = grad[i] + params.weight_decay * param[i];
  var b = g;
  if (params.first_step == 0u) {
    b = params.momentum * momentum_buf[i] + g;
  }
  momentum_buf[i] = b;
  param[i] = param[i] - params.lr * b;
}
