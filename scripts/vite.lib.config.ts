// `npm run build` (library half): the package's three entry points as ES modules in dist/lib, with the WGSL
// embedded (src/generated/shaders.ts, made by scripts/embed-shaders.ts in prebuild):
//   chh-webgpu.js  src/index.ts, 'chh-webgpu': the browser entry; nothing it loads imports a Node built-in
//   node.js        src/index-node.ts, 'chh-webgpu/node': Dawn in Node (the `webgpu` package, an optional peer)
//   cli.js         src/cli/chh.ts, what bin/chh.mjs runs from an installed package (no tsx there)
// One build for the three, so the code they share is in shared chunks (chunks/), loaded once: the Engine class
// that chh-webgpu/node makes is the one 'chh-webgpu' checks against. Node built-ins and `webgpu` stay external;
// only node.js and cli.js reach them. Type declarations: tsconfig.build.json.
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
    lib: {
      entry: { 'chh-webgpu': 'src/index.ts', node: 'src/index-node.ts', cli: 'src/cli/chh.ts' },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rollupOptions: {
      external: [/^node:/, 'webgpu'],
      output: { chunkFileNames: 'chunks/[name]-[hash].js' },
    },
  },
});
