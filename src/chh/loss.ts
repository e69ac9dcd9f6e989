// The CHH training loss of a batch, as every training step records it (training, the compile trace, the tuner's
// whole-model check, the benchmarks): the forward pass, then the softmax NLL of the target pixels. The loss consumes
// the logits: its backward only scales the gradient computed with it, so the gradient is written over them (at
// 800x640 batch 4 each is 156 MB of the step's peak).
import type { Tensor } from '../engine/tensor.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import { softmaxNll } from '../ops/softmax-nll.ts';

/** The mean CHH loss of images [N, 1, H, W] against target pixels [N, L] (recorded for backward). */
export function trainingLoss(model: ResnetUnet, state: ModelState, images: Tensor, temperatures: Tensor, targets: Tensor | Int32Array): Tensor {
  const logits = model.forward(state, images);
  return softmaxNll(logits, temperatures, targets, { consume: true });
}
