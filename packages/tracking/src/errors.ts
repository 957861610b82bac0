/**
 * A failure of the store's surroundings (a server, a lock, an unsupported URI), not of the caller's code.
 * tracking imports nothing of nerflow, so it marks the kind as core's errors do: nerflow's CLI reads
 * `kind: 'environment'` and prints the message (which names the fix) with exit code 1.
 */
export class TrackingEnvironmentError extends Error {
  readonly kind = 'environment';
  constructor(message: string) {
    super(message);
    this.name = 'TrackingEnvironmentError';
  }
}
