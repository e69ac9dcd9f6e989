/// <reference types="@webgpu/types" preserve="true" />
// chh-webgpu as a library: the engine (tensors, ops, autograd, optimizers on WebGPU), the ResNet-UNet landmark
// detector of "Contour-Hugging Heatmaps for Landmark Detection", its checkpoints (PyTorch names, safetensors), the
// data loaders, training, temperature scaling, evaluation (MRE, SDR, ECE, ERE, ROC), the HTML report and
// prediction. Runs in the browser (navigator.gpu) and in Node (a `gpu` from chh-webgpu/node, src/index-node.ts);
// nothing here touches the DOM or imports a Node built-in. The WGSL kernels are embedded (src/generated/shaders.ts,
// written by scripts/embed-shaders.ts). The `/// <reference>` above stays in the declarations (preserve), so a
// consumer's type check finds GPUDevice & co. in @webgpu/types, a dependency of the package.

// Engine: device, tensors, memory, kernels, the autograd tape, GPU timing.
export { Engine, type EngineOptions, type TensorOptions, type Binding } from './engine/engine.ts';
export { Tensor, shapeSize, shapeString, type DType, type Shape, type TensorEngine } from './engine/tensor.ts';
export { requestGpu, type AdapterDescription, type DeviceOptions, type GpuContext } from './engine/device.ts';
export { BufferPool, sizeClass, fmtBytes, type MemoryStats } from './engine/buffer-pool.ts';
export { type Kernel, type KernelSpec, type Shader, type UniformValues } from './engine/kernel.ts';
export { Tape, type TapeNode } from './engine/tape.ts';
export { GpuTimer } from './engine/profiler.ts';

// Elementwise ops, reductions, autograd.
export { add, sub, accumulate } from './ops/add.ts';
export { mul } from './ops/mul.ts';
export { scale } from './ops/scale.ts';
export { relu } from './ops/relu.ts';
export { sum, mean } from './ops/sum.ts';
export { fill, full } from './ops/fill.ts';
export { backward, zeroGrad, type BackwardOptions } from './ops/backward.ts';
export { f16RangeFlag } from './ops/f16-range.ts';
export { checkInputs, checkSameShape, sameShape } from './ops/check.ts';
export { memoryPolicy, save, DEFAULT_MEMORY_POLICY, ACTIVATION_STORAGES, SavedTensor, type MemoryPolicy, type ActivationStorage } from './ops/saved.ts';

// Parameters and optimizers.
export { ParameterStore, type ParameterSpec } from './nn/parameters.ts';
export { Optimizer } from './nn/optimizer.ts';
export { SGD, type SgdOptions } from './nn/sgd.ts';
export { Adam, type AdamOptions } from './nn/adam.ts';
export { LossScaler, LOSS_SCALING, type LossScalerOptions, type LossScaleStatus } from './nn/loss-scale.ts';

// Model ops.
export { conv2d, conv2dKernels, conv2dVariants } from './ops/conv2d/conv2d.ts';
export { conv2dOutputSize, conv2dSubgroupsSupported, type Conv2dOptions } from './ops/conv2d/plan.ts';
export { conv2dTuning, DEFAULT_TILES, type Conv2dTuning, type ConvKernel, type ConvOp, type ConvTile, type SharedTile } from './ops/conv2d/tuning.ts';
export { batchNorm2d, type BatchNorm2dOptions } from './ops/batchnorm.ts';
export { maxPool2d, type MaxPool2dOptions } from './ops/maxpool.ts';
export { upsampleNearest2d, upsampleConcat } from './ops/upsample.ts';
export { concatChannels, sliceChannels, copyIntoChannels } from './ops/concat.ts';
export { softmaxNll } from './ops/softmax-nll.ts';
export { expectedRadialError, type ExpectedRadialErrorOptions, type ExpectedRadialErrorResult } from './ops/ere.ts';
export { landmarkTargets } from './ops/targets.ts';

// Model and checkpoints.
export { ResnetUnet, MODEL_PRESETS, RESNET34_UNET, type UnetConfig, type ModelPreset } from './nn/unet.ts';
export { ModelState } from './nn/module.ts';
export {
  saveSafetensors, loadSafetensors, stateDict, loadStateDict, expectedStateDict,
  type CheckpointFormat, type LoadOptions, type LoadResult, type StateTensor,
} from './io/state-dict.ts';
export { parseSafetensors, parseSafetensorsHeader, serializeSafetensors, type SafeTensor, type SafetensorsDType } from './io/safetensors.ts';
export type { Point, PixelSizeMm } from './chh/metrics/inputs.ts';
export * from './chh/metrics/calibration.ts';
export * from './chh/metrics/ere.ts';
export * from './chh/metrics/radial.ts';
export * from './chh/metrics/roc.ts';
export * from './chh/metrics/summary.ts';

// Data.
export { decodeBmp, encodeBmpGray8, bmpSize, BmpError, type GrayImage } from './io/bmp.ts';
export { padAndResize, padResizePlan, type PadResizePlan } from './data/resize.ts';
export { fileListSource, pathFileSource, pickedFiles, MemoryFileSystem, type FileSource, type FileSink, type PathFile } from './io/files.ts';
export { MemoryImageCache, type ImageCache } from './data/image-cache.ts';
export {
  loadIsbiSplit, listIsbiSplit, IsbiDataError,
  ISBI_LANDMARK_NAMES, ISBI_LANDMARKS, ISBI_PIXEL_SIZE_MM, ISBI_SPLIT_DIRS,
  type IsbiSample, type IsbiSplit, type IsbiLoadOptions,
} from './data/isbi.ts';
export { loadSyntheticSplit, syntheticIsbiSource, writeSyntheticDataset, generateSyntheticCase, type SyntheticDatasetOptions } from './data/synthetic/dataset.ts';
export { augmentRecord, augmentBatch, affineMatrices, elasticGrid, identityParams, type AugmentParams } from './ops/augment.ts';
export { sampleAugmentParams, REFERENCE_AUGMENTATION, type AugmentOptions } from './data/augmentation.ts';

// Training, calibration, evaluation, report.
export {
  TRAINING, CALIBRATION, EVALUATION, PREDICTION, SYNTHETIC, RUNS, CALIBRATION_OBJECTIVES, defaultsOf,
  type CalibrationObjective, type OptimizerName, type RunSettings, type Setting,
} from './chh/config.ts';
export {
  train, gpuAugmenter, learningRate, NonFiniteLossError,
  type TrainOptions, type TrainRun, type TrainResult, type TrainProgress, type CheckpointStore, type BatchAugmenter,
} from './chh/train.ts';
export { usePrecision, gradientsMayRoundToF16, lossScalerFor } from './chh/precision.ts';
export { trainingLoss } from './chh/loss.ts';
export { checkpointBytes, restoreCheckpoint, CHECKPOINT_FILE, type EpochSummary, type TrainingSettings, type CheckpointState } from './chh/checkpoint.ts';
export {
  calibrateTemperatures,
  type CalibrateOptions,
  type CalibrateResult,
  type CalibrateEpoch,
  type CalibrateProgress,
} from './chh/calibrate/calibrate.ts';
export { referenceAugmenter } from './chh/calibrate/logits.ts';
export {
  evaluateModel, evaluateSplit, unetNetwork, heatmapSnapshot, REFERENCE_CALIBRATION_BINS, calibrationBinsFor,
  type EvaluateOptions, type EvaluationResult, type ImageEvaluation, type HeatmapSnapshot, type FrozenNetwork,
} from './chh/evaluate.ts';
export { BatchLoader, splitHalves, pixelCentre, targetPixels, type Batch } from './data/batches.ts';
export { renderReport, type ReportData } from './report/report.ts';
export { buildOverlays, overlayImage, overlayPng, inferno, type ReportOverlay, type OverlayOptions } from './report/overlay.ts';
export { reliabilityDiagramSvg, ereVsErrorSvg, rocSvg } from './report/plots.ts';
export { encodePng, encodePngAsync, pngDataUri, storedZlib, deflateWithCompressionStream, base64, type PngImage } from './io/png.ts';
export { runPipeline, meanPositionBaseline, type PipelineResult } from './pipeline/pipeline.ts';
export {
  syntheticData, trainOptions, trainStep, calibrationAugment, calibrateStep, evaluateStep, reportStep, adapterName,
  type PipelineEvent, type Emit, type RunData, type TrainStep,
} from './pipeline/steps.ts';

// Prediction.
export { predictImage, predictBmp, type Prediction, type PredictedLandmark, type PredictOptions } from './chh/predict.ts';
export { loadModel, configFromWeights, saveWeights, weightsMetadata, weightsInputSize, type LoadedModel, type InputSize } from './io/weights.ts';

// Training off the main thread: a worker module calls serveTrainingWorker(self); the page talks to it through a
// TrainingWorker (train, calibrate, evaluate, predict; progress events, heatmap frames as ImageBitmaps).
export { serveTrainingWorker, type WorkerScope, type ServeOptions } from './worker/serve.ts';
export { TrainingWorker, type WorkerLike, type EventHandler, type EventHandlers } from './worker/client.ts';
export { TrainingSession, type SessionHost, type SessionOptions } from './worker/session.ts';
export { DEFAULT_SESSION_SETTINGS, settingsProblem, runSettingsOf, loadSessionData, type SessionSettings } from './worker/settings.ts';
export { idbStore, memoryStore, DEFAULT_DATABASE, type SessionStore } from './worker/idb-store.ts';
export { weightsSize } from './worker/weights-size.ts';
export { renderFrame, rgbaPixels } from './worker/bitmap.ts';
export {
  TrainingWorkerError,
  type Phase, type StepInfo, type OverlayPoints, type HeatmapFrame, type RunRecord, type ModelInfo, type SessionState,
  type EvaluationOutput, type WeightsSize, type LoadedWeights, type PredictionOutput,
  type Requests, type RequestType, type Events, type EventType, type RequestMessage, type ResponseMessage, type EventMessage,
} from './worker/protocol.ts';
