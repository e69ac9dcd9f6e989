// The input size to predict at with a weights file: the size its metadata records (weights from the demo page,
// `chh train` and `chh calibrate` carry it), else the paper's 640x800 (PREDICTION.inputSize: converted PyTorch
// weights carry no metadata). Reads only the header, so a page can fill its form before the model is loaded.
import { parseSafetensorsHeader } from '../io/safetensors.ts';
import { inputSizeOf } from '../io/weights.ts';
import { PREDICTION } from '../chh/config.ts';
import type { WeightsSize } from './protocol.ts';

export function weightsSize(bytes: Uint8Array | ArrayBuffer): WeightsSize & { hasConfig: boolean } {
  const metadata = parseSafetensorsHeader(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).metadata;
  const recorded = inputSizeOf(metadata);
  const paper = PREDICTION.inputSize.default;
  return {
    inputSize: recorded ?? { width: paper.width, height: paper.height },
    from: recorded ? 'metadata' : 'paper',
    hasConfig: metadata.config !== undefined,
  };
}
