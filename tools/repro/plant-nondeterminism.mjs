// Test fixture for tools/repro/repro-check.test.ts (never loaded otherwise): preloaded with
// NODE_OPTIONS=--import, it salts Math.imul with this process's clock. nerflow's seeded PRNG (mulberry32)
// is built on Math.imul, so initial weights, shuffles and dropout masks change from run to run: the kind
// of nondeterminism a clock-seeded RNG would bring in, which tools/repro-check.ts must catch.
const salt = Number(process.hrtime.bigint() & 0xffffn) | 1;
const imul = Math.imul;
Math.imul = (a, b) => imul(a, b) ^ salt;
