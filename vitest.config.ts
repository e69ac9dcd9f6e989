import { defineConfig } from 'vitest/config';

// Dawn reads the Vulkan ICD list when it loads; set it here so every worker inherits it (test.env does not
// reach worker threads early enough). src/node/gpu.ts does the same for programs outside vitest.
if (!process.env.VK_ICD_FILENAMES && process.platform === 'linux') {
  process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
}
process.env.NODEVICE_SELECT ??= '1';
// Tests plan kernels from the defaults, not from whatever `chh tune` left in this machine's cache; the autotune
// tests name their own files.
process.env.CHH_TUNE_CACHE ??= 'off';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // SwiftShader runs the GPU on the same two cores; two files at a time keeps both busy without thrashing.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
