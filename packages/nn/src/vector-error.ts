/** A malformed or missing vector file: names the file and line (a user error; the caller turns it into its error kind). */
export class VectorFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VectorFileError';
  }
}
