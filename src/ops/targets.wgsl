// targets: the training target of each landmark is the pixel that contains it, as a flat index y*W + x into its
// map, clamped to the image (augmentation can push a landmark past the border). Computed on the GPU so that
// augmented landmarks never need a trip to the CPU. No backward: targets are not differentiable.
struct Params {
  count: u32,
  width: u32,
  height: u32,
}
@group(0) @binding(0) var<storage, read> landmarks: array<f32>;
@group(0) @binding(1) var<storage, read_write> targets: array<i32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= params.count) {
    return;
  }
  let x = clamp(floor(landmarks[2u * i]), 0.0, f32(params.width - 1u));
  let y = clamp(floor(landmarks[2u * i + 1u]), 0.0, f32(params.height - 1u));
  targets[i] = i32(y) * i32(params.width) + i32(x);
}
