// Preloaded (`node --import <this file> nerflow.js …`) by train-memory.test.ts: when the process exits, writes to
// $NERFLOW_MEMORY_REPORT its peak and current RSS (MiB, /proc/self/status VmHWM and VmRSS; null off Linux) and the
// npm packages it loaded as CommonJS (TF.js, ioredis and resvg are CommonJS, so a regression that loads them shows).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const out = process.env.NERFLOW_MEMORY_REPORT;
if (out) {
  process.on('exit', () => {
    const status = existsSync('/proc/self/status') ? readFileSync('/proc/self/status', 'utf8') : '';
    const mib = (key) => {
      const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(status);
      return m ? Number(m[1]) / 1024 : null;
    };
    const packages = new Set();
    for (const file of Object.keys(require.cache)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
      if (m) packages.add(m[1]);
    }
    writeFileSync(out, JSON.stringify({ peak_mib: mib('VmHWM'), rss_mib: mib('VmRSS'), packages: [...packages] }));
  });
}
