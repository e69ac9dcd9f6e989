// chh-webgpu as a library: the engine (tensors, ops, autograd, optimizers on WebGPU), the ResNet-UNet landmark
// detector of "Contour-Hugging Heatmaps for Landmark Detection", its checkpoints (PyTorch names, safetensors), the
// data loaders, training, temperature scaling, evaluation (MRE, SDR, ECE, ERE, ROC), the HTML report and
// prediction. Runs in the browser (navigator.gpu) and in Node (the `webgpu` package); nothing here touches the DOM.
// The WGSL kernels are embedded (src/shaders/index.ts).

// Runtime: Engine, Tensor, memory, autograd, elementwise ops, parameters, optimizers.
export * from './runtime/index.ts';

// Model ops.
export { conv2d, conv2dOutputSize, type Conv2dOptions } from './ops/conv2d.ts';
export { batchNorm2d, type BatchNorm2dOptions } from './ops/batchnorm.ts';
export { maxPool2d, type MaxPool2dOptions } from './ops/maxpool.ts';
export { upsampleNearest2d, upsampleConcat } from './ops/upsample.ts';
export { concatChannels, sliceChannels, copyIntoChannels } from './ops/concat.ts';
export { softmaxNll } from './ops/softmax-nll.ts';
export { expectedRadialError, type ExpectedRadialErrorOptions, type ExpectedRadialErrorResult } from './ops/ere.ts';
export { landmarkTargets } from './ops/targets.ts';

// Model and checkpoints.
export { ResnetUnet, MODEL_PRESETS, RESNET34_UNET, type UnetConfig, type ModelPreset } from './model/unet.ts';
export { ModelState } from './model/nn.ts';
export {
  saveSafetensors, loadSafetensors, stateDict, loadStateDict, expectedStateDict,
  type CheckpointFormat, type LoadOptions, type LoadResult, type StateTensor,
} from './model/checkpoint.ts';
export { parseSafetensors, parseSafetensorsHeader, serializeSafetensors, type SafeTensor, type SafetensorsDType } from './model/safetensors.ts';
export * from './model/metrics.ts';

// Data.
export { decodeBmp, encodeBmpGray8, bmpSize, BmpError, type GrayImage } from './data/bmp.ts';
export { padAndResize, padResizePlan, type PadResizePlan } from './data/resize.ts';
export {
  loadIsbiSplit, listIsbiSplit, fileListSource, MemoryFileSystem, MemoryImageCache, IsbiDataError,
  ISBI_LANDMARK_NAMES, ISBI_LANDMARKS, ISBI_PIXEL_SIZE_MM, ISBI_SPLIT_DIRS,
  type IsbiSample, type IsbiSplit, type IsbiLoadOptions, type FileSource, type FileSink, type ImageCache,
} from './data/isbi.ts';
export { loadSyntheticSplit, syntheticIsbiSource, writeSyntheticDataset, generateSyntheticCase, type SyntheticDatasetOptions } from './data/synthetic.ts';
export { augmentRecord, augmentBatch, sampleAugmentParams, REFERENCE_AUGMENTATION, type AugmentParams, type AugmentOptions } from './data/augment.ts';

// Training, calibration, evaluation, report.
export {
  train, gpuAugmenter, learningRate, checkpointBytes, restoreCheckpoint, DEFAULT_TRAIN_OPTIONS, CHECKPOINT_FILE, NonFiniteLossError,
  type TrainOptions, type TrainRun, type TrainResult, type TrainProgress, type EpochSummary, type CheckpointStore, type BatchAugmenter,
} from './pipeline/train.ts';
export {
  calibrateTemperatures,
  referenceAugmenter,
  CALIBRATION_OBJECTIVES,
  type CalibrationObjective,
  type CalibrateOptions,
  type CalibrateResult,
  type CalibrateEpoch,
  type CalibrateProgress,
} from './pipeline/calibrate.ts';
export {
  evaluateModel, evaluateSplit, unetNetwork, heatmapSnapshot, REFERENCE_CALIBRATION_BINS, calibrationBinsFor,
  type EvaluateOptions, type EvaluationResult, type ImageEvaluation, type HeatmapSnapshot, type FrozenNetwork,
} from './pipeline/evaluate.ts';
export { BatchLoader, splitHalves, pixelCentre, targetPixels, type Batch } from './pipeline/batches.ts';
export {
  renderReport, buildOverlays, overlayImage, overlayPng, inferno, reliabilityDiagramSvg, ereVsErrorSvg, rocSvg,
  type ReportData, type ReportOverlay, type OverlayOptions,
} from './pipeline/report.ts';
export { encodePng, encodePngAsync, pngDataUri, storedZlib, deflateWithCompressionStream, base64, type PngImage } from './pipeline/png.ts';
export { runPipeline, QUICK_PIPELINE, FULL_PIPELINE, type PipelineOptions, type PipelineResult, type PipelineEvent } from './pipeline/run.ts';

// Prediction.
export { loadModel, configFromWeights, predictImage, predictBmp, type LoadedModel, type Prediction, type PredictedLandmark, type PredictOptions } from './predict.ts';
