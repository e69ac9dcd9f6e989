// Adam, PyTorch semantics (torch.optim.Adam, amsgrad off): g += wd * p; m = b1 m + (1-b1) g;
// v = b2 v + (1-b2) g^2; p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// `step`: the bias corrections are computed on the CPU in double precision, as PyTorch does in Python.
// `step_scaled` (loss scaling, src/nn/loss-scale.ts): the gradient is divided by the loss scale, the update is
// skipped when the step overflowed f16, and t is the loss scaler's count of steps taken (skipped steps do not count,
// as with PyTorch's GradScaler), which only the GPU knows (`scaler_step`, loss_scale.wgsl's prepare):
// `scaled_step_factors` (one invocation, before it) computes the bias corrections from it in f32, once, not per
// element (pow is costly on a CPU adapter), beside 1/scale and the skip in one vec4: the update reads one value more.
// One dispatch updates a whole flat parameter buffer.
struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  bias_correction1: f32,
  bias_correction2_sqrt: f32,
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
/** The loss scaler's step: (1/scale, skip, t, 0) (loss_scale.wgsl). */
@group(0) @binding(5) var<storage, read> scaler_step: vec4f;
/** For step_scaled: (1/scale, 1 - b1^t, sqrt(1 - b2^t), 1 where the step overflowed f16 and is skipped, else 0). */
@group(0) @binding(7) var<storage, read_write> step_factors: vec4f;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

fn update(i: u32, gradient: f32, bias_correction1: f32, bias_correction2_sqrt: f32) {
  // Each array is read once (p, not param[i] twice): on a CPU driver every load here is a 4-lane gather.
  let p = param[i];
  let g = gradient + params.weight_decay * p;
  let m = params.beta1 * exp_avg[i] + (1.0 - params.beta1) * g;
  let v = params.beta2 * exp_avg_sq[i] + (1.0 - params.beta2) * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  let denom = sqrt(v) / bias_correction2_sqrt + params.eps;
  param[i] = p - (params.lr / bias_correction1) * m / denom;
}

@compute @workgroup_size(256)
fn step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < params.n) {
    update(i, grad[i], params.bias_correction1, params.bias_correction2_sqrt);
  }
}

@compute @workgroup_size(1)
fn scaled_step_factors() {
  let s = scaler_step;
  step_factors = vec4f(s.x, 1.0 - pow(params.beta1, s.z), sqrt(1.0 - pow(params.beta2, s.z)), s.y);
}

@compute @workgroup_size(256)
fn step_scaled(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  let f = step_factors;
  if (i >= params.n || f.w != 0.0) {
    return;
  }
  update(i, grad[i] * f.x, f.y, f.z);
}
