export * from '../../src/runtime/index.ts';
export { reflectKernel as reflectKernelForTest } from '../../src/runtime/kernel.ts';
