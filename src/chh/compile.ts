// Every kernel a model's run needs, compiled up front and in parallel, with progress: a dry run of the training step
// (augmentation, forward, loss, backward, Adam) and of inference (forward in eval mode, the loss, the ERE) traces the
// kernels they use (engine.traceKernels records nothing and writes nothing), then engine.compileKernels compiles
// them all at once with createComputePipelineAsync. Without it every pipeline compiles when first used, one after
// another, inside the first step.
import type { Engine } from '../engine/engine.ts';
import type { Kernel } from '../engine/kernel.ts';
import type { CompileProgress } from '../engine/kernels.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import { Adam } from '../nn/adam.ts';
import { SGD } from '../nn/sgd.ts';
import { backward } from '../ops/backward.ts';
import { softmaxNll } from '../ops/softmax-nll.ts';
import { expectedRadialError } from '../ops/ere.ts';
import { landmarkTargets } from '../ops/targets.ts';
import { augmentRecord } from '../ops/augment.ts';
import { full } from '../ops/fill.ts';
import { REFERENCE_AUGMENTATION, sampleAugmentParams } from '../data/augmentation.ts';
import type { OptimizerName } from './config.ts';
import { trainingLoss } from './loss.ts';
import { inPrecision, lossScalerFor } from './precision.ts';
import type { ActivationStorage } from '../ops/saved.ts';

export interface CompilePlan {
  width: number;
  height: number;
  /** Batch sizes of training steps, with the reference's augmentation when `augment`. */
  train?: readonly number[];
  augment?: boolean;
  /** The training step's optimizer (default Adam). */
  optimizer?: OptimizerName;
  /** The precision of the steps (src/chh/precision.ts), training and inference; absent: as the engine is set up. */
  precision?: ActivationStorage;
  /** Batch sizes of inference (evaluation, temperature scaling, prediction). */
  infer?: readonly number[];
  onProgress?: (p: CompileProgress) => void;
}

/** The kernels of one training step at this batch size (the model's BN counters are left as they were). */
function traceTraining(engine: Engine, model: ResnetUnet, state: ModelState, batch: number, plan: CompilePlan): Kernel[] {
  const { width, height } = plan;
  const L = model.config.landmarks;
  const tracked = new Map(state.batchesTracked);
  const wasTraining = state.training;
  const optimizer = plan.optimizer === 'sgd' ? new SGD(state.params, { lr: 1e-3, momentum: 0.9 }) : new Adam(state.params);
  const scaler = lossScalerFor(engine); // as train() makes it
  try {
    return engine.traceKernels(() => {
      state.training = true;
      let images = engine.empty([batch, 1, height, width], { label: 'compile.images' });
      let targets = engine.empty([batch, L], { label: 'compile.targets', dtype: 'i32' });
      if (plan.augment) {
        // Elastic deformation on, so its noise and blur kernels are traced too.
        const params = sampleAugmentParams(1, batch, width, height, { ...REFERENCE_AUGMENTATION, elasticAlpha: [1, 2] });
        const out = augmentRecord(images, engine.empty([batch * L * 2], { label: 'compile.landmarks' }), params);
        images = out.images;
        targets = landmarkTargets(out.landmarks!, batch, L, height, width);
      }
      const temperatures = full(engine, [L], 1);
      scaler?.beginStep();
      backward(trainingLoss(model, state, images, temperatures, targets), { seed: scaler?.scale });
      optimizer.step(scaler);
      optimizer.zeroGrad();
    });
  } finally {
    optimizer.dispose();
    scaler?.dispose();
    state.training = wasTraining;
    state.batchesTracked.clear();
    for (const [k, v] of tracked) state.batchesTracked.set(k, v);
  }
}

/** The kernels of inference at this batch size: the frozen forward, the loss and the ERE statistics. */
function traceInference(engine: Engine, model: ResnetUnet, state: ModelState, batch: number, plan: CompilePlan): Kernel[] {
  const wasTraining = state.training;
  try {
    return engine.traceKernels(() =>
      engine.noGrad(() => {
        state.training = false;
        const L = model.config.landmarks;
        const logits = model.forward(state, engine.empty([batch, 1, plan.height, plan.width], { label: 'compile.images' }));
        const temperatures = full(engine, [L], 1);
        softmaxNll(logits, temperatures, engine.empty([batch, L], { label: 'compile.targets', dtype: 'i32' }));
        expectedRadialError(logits, temperatures, full(engine, [batch, 2], 0.1));
      }),
    );
  } finally {
    state.training = wasTraining;
  }
}

/** Every kernel the plan's steps use, from dry runs (nothing is dispatched; the model's state is left as it was). */
export function traceModel(engine: Engine, model: ResnetUnet, state: ModelState, plan: CompilePlan): Set<Kernel> {
  const kernels = new Set<Kernel>();
  return inPrecision(engine, plan.precision, () => {
    for (const b of new Set(plan.train ?? [])) for (const k of traceTraining(engine, model, state, b, plan)) kernels.add(k);
    for (const b of new Set(plan.infer ?? [])) for (const k of traceInference(engine, model, state, b, plan)) kernels.add(k);
    return kernels;
  });
}

/** Compiles every kernel the plan's steps use; resolves with how many were compiled (those already were, not again). */
export async function compileModel(engine: Engine, model: ResnetUnet, state: ModelState, plan: CompilePlan): Promise<number> {
  return engine.compileKernels(traceModel(engine, model, state, plan), plan.onProgress);
}
