// Landmark coordinates (x, y in pixels, pixel i covering [i, i+1)) to target pixel indices for softmaxNll.
import { checkInputs } from './check.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';

/** landmarks: f32 with N*L*2 values (x, y); returns i32 [N, L] of y*W+x, clamped to the image. */
export function landmarkTargets(landmarks: Tensor, n: number, l: number, height: number, width: number): Tensor {
  const e = checkInputs('landmarkTargets', { landmarks });
  if (landmarks.size !== n * l * 2) {
    throw new Error(`landmarkTargets: ${shapeString(landmarks.shape)} holds ${landmarks.size} values, not N*L*2 = ${n * l * 2}`);
  }
  if (!(height > 0 && width > 0) || height * width > 2 ** 31) throw new Error(`landmarkTargets: bad map size ${height}x${width}`);
  const targets = e.empty([n, l], { dtype: 'i32', label: 'targets' });
  const k = e.kernel({ shader: SHADERS.targets, entry: 'forward', bindings: ['landmarks', 'targets', 'params'] });
  e.run(k, { landmarks, targets, params: { count: n * l, width, height } }, [Math.ceil((n * l) / 64), 1, 1]);
  return targets;
}
