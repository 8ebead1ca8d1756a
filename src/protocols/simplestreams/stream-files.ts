// Reading what image metadata lists: simplestreams index and products files, and SHA256SUMS files.

/** One file a products file or a sums file vouches for, by its path on the upstream (with a leading `/`). */
export interface ListedFile {
  readonly path: string;
  readonly sha256: string;
  /** Products files give it; SHA256SUMS does not. */
  readonly size?: number | undefined;
}

const sha256Hex = /^[0-9a-f]{64}$/;

/**
 * The files a simplestreams products file lists (format `products:1.0`): every
 * `products.<p>.versions.<v>.items.<i>` with a `path` and a `sha256` (an item with only `md5` is
 * skipped: hoard checks sha256). Paths are relative to the stream's root. Anything malformed is
 * skipped, never thrown: the stream is the upstream's, and a client reading it judges it itself.
 */
export function productsFileItems(json: unknown): ListedFile[] {
  const files: ListedFile[] = [];
  const products = record(record(json)?.products);
  if (products === undefined) return files;
  for (const product of Object.values(products)) {
    const versions = record(record(product)?.versions);
    if (versions === undefined) continue;
    for (const version of Object.values(versions)) {
      const items = record(record(version)?.items);
      if (items === undefined) continue;
      for (const item of Object.values(items)) {
        const fields = record(item);
        const path = fields?.path;
        const sha256 = fields?.sha256;
        if (typeof path !== 'string' || typeof sha256 !== 'string') continue;
        const hex = sha256.toLowerCase();
        if (!sha256Hex.test(hex)) continue;
        const size = typeof fields?.size === 'number' && Number.isSafeInteger(fields.size) && fields.size >= 0 ? fields.size : undefined;
        const clean = streamRelativePath(path);
        if (clean !== undefined) files.push({ path: clean, sha256: hex, size });
      }
    }
  }
  return files;
}

/** The products files an index (format `index:1.0`) names: `index.<content id>.path`. */
export function indexProductsPaths(json: unknown): string[] {
  const entries = record(record(json)?.index);
  if (entries === undefined) return [];
  const paths: string[] = [];
  for (const entry of Object.values(entries)) {
    const path = record(entry)?.path;
    const clean = typeof path === 'string' ? streamRelativePath(path) : undefined;
    if (clean !== undefined) paths.push(clean);
  }
  return paths;
}

/**
 * A SHA256SUMS file as `sha256sum` writes it: `<hex> <space or *><name>` per line, names relative to
 * the file's directory. Lines that do not parse are skipped (as `sha256sum -c` warns and goes on).
 */
export function sha256SumsEntries(text: string, directory: string): ListedFile[] {
  const files: ListedFile[] = [];
  const base = directory.endsWith('/') ? directory : `${directory}/`;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+?)\r?$/.exec(line);
    if (m === null) continue;
    const name = (m[2] as string).replace(/^\.\//, '');
    const clean = streamRelativePath(`${base.slice(1)}${name}`);
    if (clean !== undefined) files.push({ path: clean, sha256: (m[1] as string).toLowerCase() });
  }
  return files;
}

/** `/`-prefixed and normalized, or undefined for what could climb out of the stream (`..`, backslashes, control bytes). */
function streamRelativePath(path: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(path)) return undefined;
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.includes('..')) return undefined;
  return `/${segments.join('/')}`;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
