// Parser for deb822 paragraphs (Release, Packages, Sources): whole text at once, or chunk by chunk for large indices.
import { AptFormatError } from './apt-format-error.ts';
import { IndexBoundError } from './index-bound-error.ts';

/**
 * Default longest field value, in UTF-16 units. The longest fields of real indices are Provides and
 * Depends of some packages (rust and golang libraries list hundreds of features: tens of KiB) and
 * Description; 1 MiB is ten times that and bounds what a multi-line field can pin.
 */
export const defaultMaxFieldLength = 1024 * 1024;
/**
 * Default longest paragraph (all its lines), in UTF-16 units: real Packages paragraphs are 1 to 3 KiB,
 * and four maximal fields are far past any of them. Bounds the one paragraph the streaming parser holds.
 */
export const defaultMaxParagraphLength = 4 * 1024 * 1024;
/**
 * Default most fields in one paragraph. Real ones have 10 to 40 (Release files about 20); each field
 * costs some 150 bytes of objects, so without this a 4 MiB paragraph of `X1: 1` lines would take
 * over 100 MB, where 1024 fields take about 150 KB plus their text.
 */
export const defaultMaxFieldsPerParagraph = 1024;

export interface Deb822Options {
  /**
   * deb822(5): comment lines (a `#` in the first column) are permitted only in some files (source
   * package control files). Off by default: in Release, Packages and Sources such a line is an error.
   */
  readonly allowComments?: boolean | undefined;
  /**
   * Longest line accepted, in UTF-16 units (default 1 MiB; real index lines stay under a few KiB).
   * Bounds the memory a hostile or broken upstream can pin with a file that never ends a line.
   */
  readonly maxLineLength?: number | undefined;
  /**
   * Longest field value (first line and continuation lines), in UTF-16 units; default
   * `defaultMaxFieldLength`. Past it the parser throws IndexBoundError('field').
   */
  readonly maxFieldLength?: number | undefined;
  /**
   * Longest paragraph (its lines, newlines included), in UTF-16 units; default
   * `defaultMaxParagraphLength`. Past it the parser throws IndexBoundError('paragraph').
   */
  readonly maxParagraphLength?: number | undefined;
  /** Most fields in one paragraph; default `defaultMaxFieldsPerParagraph`. Past it the parser throws IndexBoundError('paragraph'). */
  readonly maxFieldsPerParagraph?: number | undefined;
}

export interface Deb822Field {
  /** The name as spelled in the file (matching ignores case). */
  readonly name: string;
  /**
   * The first line's value with surrounding whitespace removed; each continuation line follows
   * after a `\n` as written (its leading space or tab kept, trailing whitespace removed), so
   * Description's ` .` lines and verbatim lines survive. See `fieldLines` for list-like fields.
   */
  readonly value: string;
}

/** One paragraph (stanza): fields in file order, looked up without regard to case. */
export class Deb822Paragraph {
  /** 1-based line where the paragraph starts in its input. */
  readonly line: number;
  readonly #fields: ReadonlyMap<string, Deb822Field>;

  constructor(line: number, fields: ReadonlyMap<string, Deb822Field>) {
    this.line = line;
    this.#fields = fields;
  }

  /** The value of field `name` (any case), or undefined when absent. */
  get(name: string): string | undefined {
    return this.#fields.get(name.toLowerCase())?.value;
  }

  has(name: string): boolean {
    return this.#fields.has(name.toLowerCase());
  }

  get size(): number {
    return this.#fields.size;
  }

  /** The fields in the order of the file. */
  get fields(): readonly Deb822Field[] {
    return [...this.#fields.values()];
  }
}

/**
 * The non-empty lines of a multi-line field, each trimmed: the entries of checksum lists
 * (`Checksums-Sha256`, `SHA256` in Release), whose first line is empty by convention.
 */
export function fieldLines(value: string): string[] {
  const lines: string[] = [];
  for (const raw of value.split('\n')) {
    const line = raw.trim();
    if (line !== '') lines.push(line);
  }
  return lines;
}

/** Parses a whole deb822 text into its paragraphs. Throws AptFormatError on malformed input. */
export function parseDeb822(text: string, options: Deb822Options = {}): Deb822Paragraph[] {
  const parser = new Deb822Parser(options);
  const paragraphs = parser.push(text);
  paragraphs.push(...parser.end());
  return paragraphs;
}

/**
 * Parses a deb822 stream incrementally: Packages files reach 50+ MB uncompressed, so paragraphs are
 * handed out as soon as they are complete and only the unfinished one is held. Chunks are strings or
 * UTF-8 bytes (a multi-byte character may be split across byte chunks); give one stream one kind.
 */
export class Deb822Parser {
  readonly #allowComments: boolean;
  readonly #maxLineLength: number;
  readonly #maxFieldLength: number;
  readonly #maxParagraphLength: number;
  readonly #maxFieldsPerParagraph: number;
  readonly #decoder = new TextDecoder('utf-8');
  #pending = '';
  #lineNumber = 0;
  #ended = false;
  #out: Deb822Paragraph[] = [];
  #fields: Map<string, Deb822Field> | undefined;
  #paragraphLine = 0;
  #paragraphLength = 0;
  #fieldName = '';
  #fieldKey = '';
  #fieldValue = '';
  // Field names repeat in every paragraph of an index: remembering the ones already checked (and
  // their lower-case key) saves a regex test and a toLowerCase per field on 50 MB inputs.
  readonly #knownNames = new Map<string, string>();

  constructor(options: Deb822Options = {}) {
    this.#allowComments = options.allowComments ?? false;
    this.#maxLineLength = options.maxLineLength ?? 1_048_576;
    this.#maxFieldLength = options.maxFieldLength ?? defaultMaxFieldLength;
    this.#maxParagraphLength = options.maxParagraphLength ?? defaultMaxParagraphLength;
    this.#maxFieldsPerParagraph = options.maxFieldsPerParagraph ?? defaultMaxFieldsPerParagraph;
  }

  /** Feeds a chunk; returns the paragraphs it completed (often none). After a throw the parser is spent. */
  push(chunk: string | Uint8Array): Deb822Paragraph[] {
    if (this.#ended) throw new Error('Deb822Parser.push after end');
    const text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    this.#pending = this.#pending === '' ? text : this.#pending + text;
    let start = 0;
    for (let newline = this.#pending.indexOf('\n'); newline >= 0; newline = this.#pending.indexOf('\n', start)) {
      this.#checkLength(newline - start);
      this.#feedLine(this.#pending.slice(start, newline));
      start = newline + 1;
    }
    this.#pending = this.#pending.slice(start);
    this.#checkLength(this.#pending.length);
    return this.#take();
  }

  #checkLength(length: number): void {
    if (length > this.#maxLineLength) {
      throw new IndexBoundError('line', this.#maxLineLength, `line longer than ${this.#maxLineLength} characters`, this.#lineNumber + 1);
    }
  }

  /** Signals the end of input; returns the last paragraph if one was open. */
  end(): Deb822Paragraph[] {
    if (this.#ended) return [];
    this.#ended = true;
    const rest = this.#pending + this.#decoder.decode();
    this.#pending = '';
    // A last line without a newline still counts (files written by hand often lack one).
    if (rest !== '') this.#feedLine(rest);
    this.#closeParagraph();
    return this.#take();
  }

  #take(): Deb822Paragraph[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #feedLine(raw: string): void {
    this.#lineNumber += 1;
    let line = raw.trimEnd();
    if (this.#lineNumber === 1 && line.startsWith('\uFEFF')) line = line.slice(1);
    // Debian Policy 5.1: paragraphs are separated by empty lines, and a line of only spaces and
    // tabs counts as empty (it may not appear inside a field), so both end the paragraph.
    if (line === '') {
      this.#closeParagraph();
      return;
    }
    const first = line.charCodeAt(0);
    // deb822(5): comment lines start with `#` in the first column and are only permitted where the
    // file's format allows them; apt's own parser rejects them in Release and index files.
    if (first === 0x23) {
      if (this.#allowComments) return;
      throw new AptFormatError('comment lines are not allowed in this file', this.#lineNumber);
    }
    if (this.#fields !== undefined) {
      this.#paragraphLength += line.length + 1;
      if (this.#paragraphLength > this.#maxParagraphLength) {
        throw new IndexBoundError('paragraph', this.#maxParagraphLength, `paragraph longer than ${this.#maxParagraphLength} characters`, this.#paragraphLine);
      }
    }
    // Debian Policy 5.1: a continuation line of a multi-line field starts with a space or a tab.
    if (first === 0x20 || first === 0x09) {
      if (this.#fields === undefined) {
        throw new AptFormatError('continuation line outside a field', this.#lineNumber);
      }
      this.#fieldValue += `\n${line}`;
      this.#checkField();
      return;
    }
    this.#startField(line);
  }

  #startField(line: string): void {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    let key = this.#knownNames.get(name);
    if (key === undefined) {
      // deb822(5): a field name is printable US-ASCII other than space and colon, and does not begin
      // with `#` or `-` (so armor lines such as `-----BEGIN PGP` never parse as fields).
      if (!/^[!"$-,.-9;-~][!-9;-~]*$/.test(name)) {
        throw new AptFormatError(`expected "Field: value", got ${JSON.stringify(line.slice(0, 80))}`, this.#lineNumber);
      }
      key = name.toLowerCase();
      if (this.#knownNames.size < 1024) this.#knownNames.set(name, key);
    }
    if (this.#fields === undefined) {
      this.#fields = new Map();
      this.#paragraphLine = this.#lineNumber;
      this.#paragraphLength = line.length + 1;
    } else {
      this.#closeField();
      if (this.#fields.size >= this.#maxFieldsPerParagraph) {
        throw new IndexBoundError(
          'paragraph',
          this.#maxFieldsPerParagraph,
          `paragraph has more than ${this.#maxFieldsPerParagraph} fields`,
          this.#paragraphLine,
        );
      }
    }
    // deb822(5): a field name occurs at most once per paragraph; accepting a second would let two
    // readers of the same file disagree on its value.
    if (this.#fields.has(key)) {
      throw new AptFormatError(`duplicate field ${name}`, this.#lineNumber);
    }
    this.#fieldName = name;
    this.#fieldKey = key;
    this.#fieldValue = line.slice(colon + 1).trim();
    this.#checkField();
  }

  #checkField(): void {
    if (this.#fieldValue.length > this.#maxFieldLength) {
      throw new IndexBoundError('field', this.#maxFieldLength, `field ${this.#fieldName} longer than ${this.#maxFieldLength} characters`, this.#lineNumber);
    }
  }

  #closeField(): void {
    if (this.#fields === undefined || this.#fieldName === '') return;
    this.#fields.set(this.#fieldKey, { name: this.#fieldName, value: this.#fieldValue });
    this.#fieldName = '';
    this.#fieldValue = '';
  }

  #closeParagraph(): void {
    if (this.#fields === undefined) return;
    this.#closeField();
    this.#out.push(new Deb822Paragraph(this.#paragraphLine, this.#fields));
    this.#fields = undefined;
  }
}

/** Parses an async stream of chunks (strings or UTF-8 bytes), yielding each paragraph once it is complete. */
export async function* parseDeb822Stream(
  source: AsyncIterable<string | Uint8Array>,
  options: Deb822Options = {},
): AsyncGenerator<Deb822Paragraph, void, undefined> {
  const parser = new Deb822Parser(options);
  for await (const chunk of source) {
    yield* parser.push(chunk);
  }
  yield* parser.end();
}
