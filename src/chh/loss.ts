// The CHH training loss of a batch, as every training step records it (training, the compile trace, the tuner's
// whole-model check, the benchmarks): the forward pass, then the softmax NLL of the target pixels. The logits are
// freed as soon as the loss is recorded: its backward only scales the gradient computed with it, so they are dead,
// and at 800x640 batch 4 they are 156 MB of a step's peak.
import type { Tensor } from '../engine/tensor.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import { softmaxNll } from '../ops/softmax-nll.ts';

/** The mean CHH loss of images [N, 1, H, W] against target pixels [N, L] (recorded for backward). */
export function trainingLoss(model: ResnetUnet, state: ModelState, images: Tensor, temperatures: Tensor, targets: Tensor | Int32Array): Tensor {
  const logits = model.forward(state, images);
  const loss = softmaxNll(logits, temperatures, targets);
  logits.dispose();
  return loss;
}
