export { Engine, type EngineOptions, type TensorOptions, type Binding } from './engine.ts';
export { Tensor, shapeSize, shapeString, type DType, type Shape } from './tensor.ts';
export { requestGpu, type AdapterDescription, type DeviceOptions, type GpuContext } from './device.ts';
export { BufferPool, sizeClass, fmtBytes, type MemoryStats } from './buffer-pool.ts';
export { type Kernel, type KernelSpec, type UniformValues } from './kernel.ts';
export { record, type TapeNode } from './autograd.ts';
export { add, sub, mul, scale, relu, sum, mean, accumulate, backward, checkInputs, checkSameShape, sameShape } from './ops.ts';
export { ParameterStore, type ParameterSpec } from './parameters.ts';
export { SGD, Adam, type SgdOptions, type AdamOptions } from './optim.ts';
