export { STAGES, type StageName } from './stages.js';
