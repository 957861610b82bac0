export * from './png.js';
