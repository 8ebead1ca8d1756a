// The error an apt index reader throws when an index passes one of the bounds that keep hoard's memory and time in check.
import { AptFormatError } from './apt-format-error.ts';

/**
 * Which bound was passed: the plain size the index expands to, one line, one field, one paragraph,
 * the knowledge (package hashes) one index may add to memory, or the paragraphs it may have that
 * describe no usable file.
 */
export type IndexBound = 'expanded-size' | 'line' | 'field' | 'paragraph' | 'knowledge' | 'unusable-paragraphs';

/**
 * An index larger than hoard agrees to read. Unlike a malformed paragraph (skipped, as apt does), this
 * fails the whole index: a bound is passed on purpose or by a broken upstream, never by a real archive.
 * The caller wraps it as the `cause` of a HoardError HOARD_ERR_INDEX_TOO_LARGE.
 */
export class IndexBoundError extends AptFormatError {
  readonly bound: IndexBound;
  /** The limit that was passed, in the unit of the bound (bytes, or UTF-16 units for lines, fields and paragraphs). */
  readonly limit: number;

  constructor(bound: IndexBound, limit: number, message: string, line?: number) {
    super(message, line);
    this.name = 'IndexBoundError';
    this.bound = bound;
    this.limit = limit;
  }
}
