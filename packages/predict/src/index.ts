export { Predictor, type PredictInput, type Prediction, type Entity, type PredictorOptions } from './predictor.js';
export { resolveModel, type ResolvedModel, type ResolveOptions } from './model-uri.js';
export { predictStream, type PredictOptions } from './predict.js';
export {
  formatPrediction,
  inputFromJson,
  predictionJson,
  readRecords,
  type InputFormat,
  type OutputFormat,
} from './io.js';
export { createServer, parseInvocation, DEFAULT_LIMITS, type ServeLimits, type ServeOptions } from './serve.js';
