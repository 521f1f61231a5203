import { defineConfig } from 'vite';

/** `vite build console` (part of `npm run build`) writes dist/console; the hub serves it at /console/. */
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    target: 'es2020',
    // Every asset is a file of its own: the page's CSP needs nothing beyond 'self'.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 200,
  },
  logLevel: 'warn',
});
