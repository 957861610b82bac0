export { ingest, CORPUS_DB } from './ingest.js';
export { TOKENS_DDL } from './db.js';
