// `npm run build` (library half): src/index.ts as one ES module, dist/lib/chh-webgpu.js, with the WGSL embedded
// (src/generated/shaders.ts, made by scripts/embed-shaders.ts in prebuild). The Node-only imports of
// src/engine/device.ts (node:fs and the `webgpu` package, loaded only when there is no navigator.gpu) stay
// external, so the same file runs in a page and in Node. Type declarations: tsconfig.build.json.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root,
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: { entry: 'src/index.ts', formats: ['es'], fileName: () => 'chh-webgpu.js' },
    rollupOptions: { external: [/^node:/, 'webgpu'] },
  },
});
