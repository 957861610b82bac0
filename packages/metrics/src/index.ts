export * from './token.js';
export * from './chunks.js';
export * from './entity.js';
export * from './confusion.js';
export * from './schemes.js';
