#!/usr/bin/env node
// Build nerflow's WebAssembly SIMD kernel: assembly/lstm.ts → wasm/lstm.wasm, and the same source with relaxed
// SIMD (fused multiply-add in the GEMM) → wasm/lstm-fma.wasm; into the folder given, else wasm/.
// The binaries are committed (nothing compiles at install); kernel.test.ts rebuilds them and checks they are identical.
import asc from 'assemblyscript/asc';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2] ?? path.join(here, 'wasm');
for (const [file, extra] of [
  ['lstm.wasm', []],
  ['lstm-fma.wasm', ['--enable', 'relaxed-simd']],
]) {
  const { error, stderr } = await asc.main([
    path.join(here, 'assembly', 'lstm.ts'),
    '-O3',
    '--runtime',
    'stub',
    '--enable',
    'simd',
    '--importMemory',
    '--noExportMemory',
    '--noAssert',
    // one shared memory for every thread (threads.ts): the main thread and a worker instantiate this module on it
    '--enable',
    'threads',
    '--sharedMemory',
    '--maximumMemory',
    '65536',
    ...extra,
    '--outFile',
    path.join(outDir, file),
  ]);
  if (error) {
    console.error(stderr.toString());
    process.exit(1);
  }
}
