#!/usr/bin/env node
// Build nerflow's WebAssembly SIMD kernel: assembly/lstm.ts → wasm/lstm.wasm (or the path given).
// The binary is committed (nothing compiles at install); kernel.test.ts rebuilds it and checks it is identical.
import asc from 'assemblyscript/asc';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? path.join(here, 'wasm', 'lstm.wasm');
const { error, stderr } = await asc.main([
  path.join(here, 'assembly', 'lstm.ts'),
  '-O3', '--runtime', 'stub', '--enable', 'simd', '--importMemory', '--noExportMemory', '--noAssert',
  '--outFile', out,
]);
if (error) {
  console.error(stderr.toString());
  process.exit(1);
}
