// The error the apt parsers throw when a repository file does not follow its format.

/**
 * Thrown for malformed upstream data (a Release, Packages or Sources file, an InRelease signature
 * block). protocols/ has no say in HTTP statuses or the error registry: the caller wraps it as the
 * `cause` of a HoardError with the code that fits where it happened.
 */
export class AptFormatError extends Error {
  /** 1-based line of the input where the problem was found, when it is tied to a line. */
  readonly line: number | undefined;

  constructor(message: string, line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'AptFormatError';
    this.line = line;
  }
}
