/** A malformed or missing vector file: names the file and line (a user error; callers give it their error kind). */
export class VectorFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VectorFileError';
  }
}
