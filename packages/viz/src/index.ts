export * from './png.js';
export * from './vega.js';
