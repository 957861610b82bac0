// The trials of a config are expanded in core, where loadConfig validates every one of them.
export { expandTrials, trialId, trialLabel, type ParamValue, type Trial } from '@nerflow/core';
