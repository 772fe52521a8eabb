// Builds the dashboard into dist/: one JS bundle (uPlot included), one CSS file, index.html.
// No CDN, no network at run time: `llmproxy monitor` serves dist/ as it is.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
await build({
  entryPoints: { app: join(here, 'src/main.js') },
  bundle: true,
  format: 'esm',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  outdir: dist,
  logLevel: 'warning',
});
await copyFile(join(here, 'src/index.html'), join(dist, 'index.html'));
