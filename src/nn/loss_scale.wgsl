// Dynamic loss scaling, PyTorch's GradScaler semantics: backward starts from the loss times `scale` (so that small
// gradients survive rounding to f16), the optimizer divides by it (`inv_scale`: powers of two, so exactly) and
// skips its update when the step's f16 range flag is set (src/ops/f16-range.ts): `prepare`, one invocation before
// the optimizer, gives it all that in one vec4 (`scaler_step`), so no optimizer shader knows this state's layout.
// Then `update`, one invocation after the optimizer: on overflow the scale halves and the step counts as skipped;
// otherwise the step counts as taken, and after `growth_interval` good steps in a row the scale doubles. All on the
// GPU: no step waits for a read.
struct ScalerState {
  scale: f32,
  inv_scale: f32,
  good_steps: u32,
  /** Steps the optimizer took (its t for Adam's bias corrections), and steps skipped. */
  steps: u32,
  skipped: u32,
}
struct Params {
  growth_interval: u32,
  min_scale: f32,
  max_scale: f32,
}
@group(0) @binding(0) var<storage, read_write> scaler: ScalerState;
@group(0) @binding(1) var<storage, read> f16_overflow: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
/** (1/scale, 1 where this step overflowed f16 and is skipped else 0, t: the step's number among those taken, 0). */
@group(0) @binding(3) var<storage, read_write> scaler_step: vec4f;

@compute @workgroup_size(1)
fn prepare() {
  scaler_step = vec4f(scaler.inv_scale, select(0.0, 1.0, f16_overflow[0] != 0u), f32(scaler.steps + 1u), 0.0);
}

@compute @workgroup_size(1)
fn update() {
  var s = scaler;
  if (f16_overflow[0] != 0u) {
    s.scale = max(s.scale * 0.5, params.min_scale);
    s.good_steps = 0u;
    s.skipped += 1u;
  } else {
    s.steps += 1u;
    s.good_steps += 1u;
    if (s.good_steps >= params.growth_interval) {
      s.scale = min(s.scale * 2.0, params.max_scale);
      s.good_steps = 0u;
    }
  }
  s.inv_scale = 1.0 / s.scale;
  scaler = s;
}
