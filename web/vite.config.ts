import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The web client: root web/, built to web/dist, which the edge serves. In development, `vite` proxies the
// edge's HTTP API and signaling socket (MEETVIEW_EDGE_URL, default the first edge of the local mesh).
const edge = process.env.MEETVIEW_EDGE_URL ?? 'http://127.0.0.1:8080';
const proxy = {
  '/api': { target: edge, changeOrigin: true },
  '/healthz': { target: edge, changeOrigin: true },
  '/readyz': { target: edge, changeOrigin: true },
  '/rtc': { target: edge.replace(/^http/, 'ws'), ws: true, changeOrigin: true },
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: false, proxy },
  preview: { host: '127.0.0.1', port: 4173, proxy },
});
