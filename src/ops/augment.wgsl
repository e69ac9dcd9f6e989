// augment: seeded data augmentation of a batch of 1-channel images [N, 1, H, W] (0-255) and their landmarks,
// as the reference does it with imgaug (Affine, Multiply, GammaContrast, ElasticTransformation). The random draws
// happen on the CPU (src/data/augmentation.ts) and arrive per image in `aug`; this file does the per-pixel work.
//
// Coordinates are continuous: pixel i covers [i, i + 1), its centre is at i + 0.5 (as in src/data/resize.ts).
// Output pixel p samples the input at r = Minv (p + d(p)): d is the elastic displacement field, Minv the inverse
// of the forward affine map. Bilinear interpolation, each of the four taps that falls outside the image reads 0.
//
// The displacement field lives on a grid of nodes spaced `cell` pixels apart (node k at k * cell); each channel
// (x, y) is seeded uniform(-1, 1) noise per node (a PCG hash of (seed, channel, node); `noise` fills the grid and
// a margin of `radius` nodes on every side, since noise exists everywhere and the border has no artefact),
// blurred by a separable Gaussian of sigma_c nodes (blur_x, then blur_y), scaled per image, and read by bilinear
// interpolation.
//
// Per-image record in `aug` (STRIDE floats):
//   0..5   inverse affine (output -> input): r.x = a0 q.x + a1 q.y + a2, r.y = a3 q.x + a4 q.y + a5
//   6..11  forward affine (input -> output), same layout
//   12     intensity multiply factor          13  gamma (1 = skip)
//   14     field scale (alpha / cell; 0 = no elastic deformation for this image)
//   15, 16 seed, low and high 16 bits (exact in f32)
struct Params {
  n: u32,            // invocations of this dispatch
  width: u32,
  height: u32,
  gw: u32,           // field nodes per row
  gh: u32,           // field rows
  radius: u32,       // Gaussian half-width, nodes
  landmarks: u32,    // landmarks per image
  iterations: u32,   // Newton iterations of the landmark inversion
  inv_cell: f32,     // 1 / node spacing, in 1/pixels
  wbase: u32,        // offset in `aug` of the 2 radius + 1 normalised Gaussian weights (after the N records)
}

const STRIDE: u32 = 20u;

@group(0) @binding(0) var<storage, read> aug: array<f32>;
@group(0) @binding(1) var<storage, read_write> tmp: array<f32>;
@group(0) @binding(2) var<storage, read_write> field: array<f32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read> pts_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> pts_out: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<storage, read_write> noise_buf: array<f32>;

// PCG hash (Jarzynski and Olano 2020, "Hash Functions for GPU Rendering").
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn seed_of(img: u32) -> u32 {
  let b = img * STRIDE;
  return u32(aug[b + 15u]) | (u32(aug[b + 16u]) << 16u);
}

// Uniform noise in (-1, 1) at node (kx, ky) of channel ch: 24 random bits, centred, exact in f32.
fn hash_noise(seed: u32, ch: u32, kx: i32, ky: i32) -> f32 {
  var h = pcg(seed ^ pcg(ch));
  h = pcg(h ^ bitcast<u32>(kx));
  h = pcg(h ^ bitcast<u32>(ky));
  return (f32(h >> 8u) + 0.5) * (2.0 / 16777216.0) - 1.0;
}

// The noise with its margin: noise_buf [N, 2, gh + 2 radius, gw + 2 radius], entry (row, col) is node
// (col - radius, row - radius).
@compute @workgroup_size(256)
fn noise(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let rows = params.gh + 2u * params.radius;
  let cols = params.gw + 2u * params.radius;
  let col = i % cols;
  let t = i / cols;
  let row = t % rows;
  let ch = (t / rows) % 2u;
  let img = t / (rows * 2u);
  let r = i32(params.radius);
  noise_buf[i] = hash_noise(seed_of(img), ch, i32(col) - r, i32(row) - r);
}

// Horizontal blur: tmp [N, 2, gh + 2 radius, gw], row j holds node row j - radius.
@compute @workgroup_size(256)
fn blur_x(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let kx = i % params.gw;
  let line = i / params.gw; // (img * 2 + ch) * rows + row
  let base = line * (params.gw + 2u * params.radius) + kx;
  var acc = 0.0;
  for (var j = 0u; j <= 2u * params.radius; j++) {
    acc += aug[params.wbase + j] * noise_buf[base + j];
  }
  tmp[i] = acc;
}

// Vertical blur and per-image scale: field [N, 2, gh, gw] in pixels (channel 0 = x, 1 = y).
@compute @workgroup_size(256)
fn blur_y(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let rows = params.gh + 2u * params.radius;
  let kx = i % params.gw;
  let t = i / params.gw;
  let ky = t % params.gh;
  let plane = t / params.gh; // img * 2 + ch
  let img = plane / 2u;
  let base = (plane * rows + ky) * params.gw + kx;
  var acc = 0.0;
  for (var j = 0u; j <= 2u * params.radius; j++) {
    acc += aug[params.wbase + j] * tmp[base + j * params.gw];
  }
  field[i] = acc * aug[img * STRIDE + 14u];
}

struct FieldSample {
  d: vec2f,
  // d(d)/dp: columns are d/dx and d/dy (zero where the position is clamped to the grid).
  jac: mat2x2f,
}

// Bilinear interpolation of the field at pixel position p; positions beyond the grid read its edge.
fn field_sample(img: u32, p: vec2f) -> FieldSample {
  let gwf = f32(params.gw - 1u);
  let ghf = f32(params.gh - 1u);
  let u_raw = p.x * params.inv_cell;
  let v_raw = p.y * params.inv_cell;
  let u = clamp(u_raw, 0.0, gwf);
  let v = clamp(v_raw, 0.0, ghf);
  let x0 = min(u32(floor(u)), params.gw - 2u);
  let y0 = min(u32(floor(v)), params.gh - 2u);
  let tx = u - f32(x0);
  let ty = v - f32(y0);
  let plane = params.gw * params.gh;
  let bx = img * 2u * plane + y0 * params.gw + x0;
  let by = bx + plane;
  let x00 = field[bx];
  let x10 = field[bx + 1u];
  let x01 = field[bx + params.gw];
  let x11 = field[bx + params.gw + 1u];
  let y00 = field[by];
  let y10 = field[by + 1u];
  let y01 = field[by + params.gw];
  let y11 = field[by + params.gw + 1u];
  let f00 = vec2f(x00, y00);
  let f10 = vec2f(x10, y10);
  let f01 = vec2f(x01, y01);
  let f11 = vec2f(x11, y11);
  var s: FieldSample;
  s.d = (1.0 - ty) * ((1.0 - tx) * f00 + tx * f10) + ty * ((1.0 - tx) * f01 + tx * f11);
  let inside_u = select(0.0, params.inv_cell, u_raw > 0.0 && u_raw < gwf);
  let inside_v = select(0.0, params.inv_cell, v_raw > 0.0 && v_raw < ghf);
  let ddu = (1.0 - ty) * (f10 - f00) + ty * (f11 - f01);
  let ddv = (1.0 - tx) * (f01 - f00) + tx * (f11 - f10);
  s.jac = mat2x2f(ddu * inside_u, ddv * inside_v);
  return s;
}

fn tap(img: u32, x: i32, y: i32) -> f32 {
  if (x < 0 || y < 0 || x >= i32(params.width) || y >= i32(params.height)) {
    return 0.0;
  }
  return src[(img * params.height + u32(y)) * params.width + u32(x)];
}

// One output pixel: elastic displacement, inverse affine, bilinear sample, multiply, gamma, clamp to [0, 255].
@compute @workgroup_size(256)
fn warp(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let x = i % params.width;
  let y = (i / params.width) % params.height;
  let img = i / (params.width * params.height);
  let b = img * STRIDE;
  var q = vec2f(f32(x) + 0.5, f32(y) + 0.5);
  if (aug[b + 14u] != 0.0) {
    q += field_sample(img, q).d;
  }
  let fx = aug[b] * q.x + aug[b + 1u] * q.y + aug[b + 2u] - 0.5;
  let fy = aug[b + 3u] * q.x + aug[b + 4u] * q.y + aug[b + 5u] - 0.5;
  var v = 0.0;
  // Outside (-1, W) x (-1, H) every tap is outside the image (this also keeps the i32 conversions in range).
  if (fx > -1.0 && fy > -1.0 && fx < f32(params.width) && fy < f32(params.height)) {
    let x0 = floor(fx);
    let y0 = floor(fy);
    let tx = fx - x0;
    let ty = fy - y0;
    let ix = i32(x0);
    let iy = i32(y0);
    v = (1.0 - ty) * ((1.0 - tx) * tap(img, ix, iy) + tx * tap(img, ix + 1, iy))
      + ty * ((1.0 - tx) * tap(img, ix, iy + 1) + tx * tap(img, ix + 1, iy + 1));
  }
  v = clamp(v * aug[b + 12u], 0.0, 255.0);
  let gamma = aug[b + 13u];
  if (gamma != 1.0) {
    v = select(0.0, 255.0 * pow(v / 255.0, gamma), v > 0.0);
  }
  dst[i] = v;
}

// One landmark: its output position p solves Minv (p + d(p)) = l, i.e. p + d(p) = q with q = M l. Newton's method
// on F(p) = p + d(p) - q from p = q - d(q), with a plain fixed-point step where I + dd/dp is near-singular.
@compute @workgroup_size(64)
fn landmarks(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.n) {
    return;
  }
  let img = i / params.landmarks;
  let b = img * STRIDE + 6u;
  let l = vec2f(pts_in[2u * i], pts_in[2u * i + 1u]);
  let q = vec2f(aug[b] * l.x + aug[b + 1u] * l.y + aug[b + 2u], aug[b + 3u] * l.x + aug[b + 4u] * l.y + aug[b + 5u]);
  var p = q;
  if (aug[img * STRIDE + 14u] != 0.0) {
    p = q - field_sample(img, q).d;
    for (var it = 0u; it < params.iterations; it++) {
      let s = field_sample(img, p);
      let f = p + s.d - q;
      let j = s.jac + mat2x2f(1.0, 0.0, 0.0, 1.0);
      let det = determinant(j);
      if (det > 0.05) {
        // inverse of [[a, c], [b, d]] (columns) times f
        p -= vec2f(j[1].y * f.x - j[1].x * f.y, -j[0].y * f.x + j[0].x * f.y) / det;
      } else {
        p -= f;
      }
    }
  }
  pts_out[2u * i] = p.x;
  pts_out[2u * i + 1u] = p.y;
}
