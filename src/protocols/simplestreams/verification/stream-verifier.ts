// Vouches for image items with the hashes their stream lists (products files, SHA256SUMS), and checks the stream's signatures.
import type { Logger } from 'pino';
import type { AdmitCandidate, AdmitDecision, ContentVerifier, Expectation, ObjectFetch } from '../../../cache/content-verifier.ts';
import type { ReferenceOracle } from '../../../cache/eviction-policy.ts';
import type { Clock } from '../../../clock.ts';
import { HoardError } from '../../../errors.ts';
import { publishVerification } from '../../../events.ts';
import type { BlobStore } from '../../../storage/blob-store.ts';
import type { MetadataIndex, ObjectEntry, Verification } from '../../../storage/metadata-index.ts';
import type { SignatureChecker } from '../../apt/verification/signature-checker.ts';
import { indexProductsPaths, productsFileItems, sha256SumsEntries, type ListedFile } from '../stream-files.ts';
import { streamPathKind } from '../stream-path-class.ts';

/** What the verifier knows of one image upstream's configuration. */
export interface StreamUpstreamRules {
  /** Checks `.sjson` and `SHA256SUMS.gpg` against the upstream's keyring; absent: no keyring, nothing is authenticated. */
  readonly signatures?: SignatureChecker | undefined;
  readonly strict: boolean;
  readonly maxAgeSeconds: number;
}

export interface StreamVerifierOptions {
  readonly blobs: BlobStore;
  readonly index: MetadataIndex;
  readonly clock: Clock;
  readonly logger: Logger;
  /** By upstream key (`image:<name>`). */
  readonly upstreams: ReadonlyMap<string, StreamUpstreamRules>;
}

/** Where a simplestreams server keeps its index (simplestreams: `streams/v1/index.json`). */
const streamIndexPath = '/streams/v1/index.json';

/** Bound on the products files read from one index to discover an item's hash (real indices name a handful to a few dozen). */
const maxProductsFiles = 64;

/**
 * Products files of real streams reach tens of MB (the largest about 40 MB); a metadata file past this is not
 * read (its items go unverified). Reading parses it whole, so this also bounds the memory one read takes.
 */
const maxSourceBytes = 64 * 1024 * 1024;

/** Files listed per upstream across its products and sums files (a real stream lists tens of thousands); past it a source is not read. */
const maxListedPerUpstream = 1_000_000;

/** One source's word on a path. */
interface Listing {
  readonly sha256: string;
  readonly size: number | undefined;
  readonly authenticated: boolean;
}

/** A file as one source lists it. */
interface Listed extends ListedFile {
  readonly source: string;
}

/** A products or sums file as learnt. */
interface Source {
  readonly digest: string;
  readonly files: readonly Listed[];
  readonly authenticated: boolean;
  /** Set when this file lists exactly what its twin (`x.json` / `x.sjson`) lists: its files are listed once, under the twin. */
  readonly sameAs?: string | undefined;
}

/**
 * What one upstream's stored metadata lists: source path -> its files, and item path -> the listing (or, for
 * the few paths several sources list, the listings). A `.json` and its `.sjson` twin usually list the same
 * files (and with a keyring both are fetched): the second is then kept as an alias of the first, so a stream
 * is held once, not twice. Measured: 100,000 files (a 27 MB products file) take about 30 MB of heap.
 */
class UpstreamKnowledge {
  readonly sources = new Map<string, Source>();
  readonly byPath = new Map<string, Listed | Listed[]>();
  /** Files listed across all sources (a path listed by two sources counts twice; aliases not at all). */
  listedCount = 0;
  /** The products files the stream's index names, once it was read. */
  productsFiles: readonly string[] = [];

  /** Learns `source`; returns the aliases of it that were dropped (their files must be read again: they may differ now). */
  replace(source: string, digest: string, files: readonly ListedFile[], authenticated: boolean): string[] {
    const detached = this.forget(source);
    const twin = twinOf(source);
    const twinSource = twin === undefined ? undefined : this.sources.get(twin);
    if (twin !== undefined && twinSource !== undefined && twinSource.sameAs === undefined && sameFiles(twinSource.files, files)) {
      this.sources.set(source, { digest, files: twinSource.files, authenticated, sameAs: twin });
      return detached;
    }
    const listed = files.map((f): Listed => ({ path: f.path, sha256: f.sha256, size: f.size, source }));
    this.sources.set(source, { digest, files: listed, authenticated });
    this.listedCount += listed.length;
    for (const file of listed) {
      const known = this.byPath.get(file.path);
      if (known === undefined) this.byPath.set(file.path, file);
      else if (Array.isArray(known)) known.push(file);
      else this.byPath.set(file.path, [known, file]);
    }
    return detached;
  }

  /** Drops what `source` listed; returns its aliases, dropped with it. */
  forget(source: string): string[] {
    const known = this.sources.get(source);
    if (known === undefined) return [];
    this.sources.delete(source);
    if (known.sameAs !== undefined) return [];
    this.listedCount -= known.files.length;
    for (const file of known.files) {
      const listings = this.byPath.get(file.path);
      if (listings === undefined) continue;
      if (!Array.isArray(listings)) {
        if (listings.source === source) this.byPath.delete(file.path);
        continue;
      }
      const rest = listings.filter((l) => l.source !== source);
      if (rest.length === 0) this.byPath.delete(file.path);
      else this.byPath.set(file.path, rest.length === 1 ? (rest[0] as Listed) : rest);
    }
    const aliases = [...this.sources].filter(([, s]) => s.sameAs === source).map(([path]) => path);
    for (const alias of aliases) this.sources.delete(alias);
    return aliases;
  }

  /** Every listing of a path, by any source. */
  listings(path: string): readonly Listed[] {
    const known = this.byPath.get(path);
    return known === undefined ? [] : Array.isArray(known) ? known : [known];
  }

  /** Signed when the source or an alias of it is (a `.json` is signed through its `.sjson` twin, and the other way round they list the same). */
  #authenticated(source: string): boolean {
    if (this.sources.get(source)?.authenticated === true) return true;
    const twin = twinOf(source);
    const alias = twin === undefined ? undefined : this.sources.get(twin);
    return alias?.sameAs === source && alias.authenticated;
  }

  /** The listing to check a path against: a signed source's first, else the one learnt last. */
  lookup(path: string): { source: string; listing: Listing } | undefined {
    let chosen: { source: string; listing: Listing } | undefined;
    for (const file of this.listings(path)) {
      const authenticated = this.#authenticated(file.source);
      if (chosen === undefined || authenticated || !chosen.listing.authenticated) {
        chosen = { source: file.source, listing: { sha256: file.sha256, size: file.size, authenticated } };
      }
      if (authenticated) break;
    }
    return chosen;
  }
}

/** `x.json` <-> `x.sjson`. */
function twinOf(source: string): string | undefined {
  if (source.endsWith('.sjson')) return `${source.slice(0, -'.sjson'.length)}.json`;
  if (source.endsWith('.json')) return `${source.slice(0, -'.json'.length)}.sjson`;
  return undefined;
}

function sameFiles(a: readonly ListedFile[], b: readonly ListedFile[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as ListedFile;
    const y = b[i] as ListedFile;
    if (x.path !== y.path || x.sha256 !== y.sha256 || x.size !== y.size) return false;
  }
  return true;
}

type SignatureVerdict =
  { readonly status: 'valid'; readonly text: string } | { readonly status: 'unsigned' } | { readonly status: 'bad'; readonly reason: string };

export class StreamVerifier implements ContentVerifier, ReferenceOracle {
  readonly #o: StreamVerifierOptions;
  readonly #knowledge = new Map<string, UpstreamKnowledge>();
  /** Metadata revalidations in flight, by cache key: one per file however many item requests wait for it. */
  readonly #refreshing = new Map<string, Promise<void>>();
  /** When each source was last asked for (cache key -> epoch ms), so a failing upstream is not asked on every item request. */
  readonly #asked = new Map<string, number>();
  /** Signature verdicts reached at admission (key + digest), taken by `learn` so it does not check twice. */
  readonly #verdicts = new Map<string, boolean>();

  constructor(options: StreamVerifierOptions) {
    this.#o = options;
    for (const key of options.upstreams.keys()) this.#knowledge.set(key, new UpstreamKnowledge());
  }

  /** Rebuilds the knowledge from the stored products and sums files, signatures checked again, before the first request. */
  async start(): Promise<void> {
    // This protocol's entries only (an index lookup), not a pass over every object of every protocol.
    const sources = this.#o.index.findByPath({ protocol: 'simplestreams' }).filter((e) => this.#knowledge.has(e.upstream) && teaches(e.path));
    for (const entry of sources) {
      await this.learn(entry.upstream, entry.path, entry.digest).catch((err: unknown) => {
        this.#o.logger.warn({ key: entry.key, err }, 'stored image metadata not read');
      });
    }
  }

  async expect(upstream: string, path: string, fetch?: ObjectFetch): Promise<Expectation | undefined> {
    const rules = this.#o.upstreams.get(upstream);
    const knowledge = this.#knowledge.get(upstream);
    if (rules === undefined || knowledge === undefined) return undefined;
    const kind = streamPathKind(path);
    if (kind === undefined) return undefined;
    if (kind !== 'item') {
      // A signed file must be judged before any client sees it: a broken signature never replaces a good copy.
      const judged = rules.signatures !== undefined && (path.endsWith('.sjson') || kind === 'sums');
      return { verification: 'unverified', awaitAdmission: judged || undefined, teaches: teaches(path) || undefined };
    }
    let found = knowledge.lookup(path);
    if (fetch !== undefined) {
      // Moving names (current/, release/, daily trees) are rewritten in place: the list that covers this path must be current.
      if (found !== undefined && (await this.#refresh(upstream, found.source, rules, fetch))) found = knowledge.lookup(path);
      if (found === undefined) {
        const sums = `${path.slice(0, path.lastIndexOf('/'))}/SHA256SUMS`;
        if (!knowledge.sources.has(sums) || this.#stale(upstream, sums, rules)) {
          await this.#refresh(upstream, sums, rules, fetch);
          found = knowledge.lookup(path);
        }
      }
      // An item asked before its stream's metadata (a client that knows the path already): read the stream first.
      if (found === undefined && (await this.#discover(upstream, knowledge, rules, fetch))) found = knowledge.lookup(path);
    }
    if (rules.strict && found?.listing.authenticated !== true) {
      throw new HoardError('HOARD_ERR_NOT_AUTHENTICATED', `${upstream}${path}: no signed products file or SHA256SUMS lists it (strict)`, {
        detail: 'strict: this image file is not covered by a signature from the configured keyring',
      });
    }
    if (found === undefined) return undefined;
    const { sha256, size, authenticated } = found.listing;
    return { sha256, size, verification: authenticated ? 'authenticated' : 'hash-verified' };
  }

  async admit(candidate: AdmitCandidate, fetch: ObjectFetch): Promise<AdmitDecision> {
    const rules = this.#o.upstreams.get(candidate.upstream);
    const knowledge = this.#knowledge.get(candidate.upstream);
    if (rules === undefined || knowledge === undefined) return { admit: true, verification: 'unverified' };
    const kind = streamPathKind(candidate.path);
    if (kind === 'item') return { admit: true, verification: this.#itemVerification(knowledge, candidate) };
    if (rules.signatures === undefined || kind === undefined || kind === 'signature') return { admit: true, verification: 'unverified' };
    // The companion that signs this file: fetched afresh for SHA256SUMS (its .gpg belongs to these bytes), as needed for a .json twin.
    const companion = companionOf(candidate.path);
    if (companion !== undefined) await fetch(companion, { revalidate: kind === 'sums' });
    const verdict = await this.#judge(candidate.upstream, candidate.path, candidate.digest, rules.signatures);
    if (verdict.status === 'bad') {
      const reason = `signature check failed: ${verdict.reason}`;
      this.#o.logger.error({ upstream: candidate.upstream, path: candidate.path, reason }, 'image metadata refused: bad signature');
      publishVerification({ upstream: candidate.upstream, path: candidate.path, failure: 'signature', detail: verdict.reason });
      if (candidate.previousDigest !== undefined) return { admit: false, reason, serve: 'previous' };
      const error = new HoardError('HOARD_ERR_STREAM_REFUSED', `${candidate.upstream}${candidate.path}: ${reason}`, {
        detail: 'the image stream failed its signature check; no earlier good copy is cached',
      });
      return { admit: false, reason, serve: 'refuse', error };
    }
    this.#remember(`${candidate.upstream}${candidate.path}@${candidate.digest}`, verdict.status === 'valid');
    return { admit: true, verification: verdict.status === 'valid' ? 'authenticated' : 'unverified' };
  }

  async learn(upstream: string, path: string, digest: string): Promise<void> {
    const knowledge = this.#knowledge.get(upstream);
    const rules = this.#o.upstreams.get(upstream);
    if (knowledge === undefined || rules === undefined || !teaches(path)) return;
    const bytes = await readBlob(this.#o.blobs, digest);
    if (bytes === undefined) return;
    const verdictKey = `${upstream}${path}@${digest}`;
    let authenticated = this.#verdicts.get(verdictKey);
    this.#verdicts.delete(verdictKey);
    let text = bytes.toString('utf8');
    if (path.endsWith('.sjson')) {
      // Judged at admission already, or (at start-up, without a keyring) judged now.
      const signed = authenticated !== undefined || rules.signatures === undefined ? undefined : await rules.signatures.checkClearsigned(text);
      if (signed !== undefined) authenticated = signed.status === 'valid';
      const cleartext = signed?.status === 'valid' ? signed.signedText : await clearsignedText(text);
      if (cleartext === undefined) return;
      text = cleartext;
    } else if (authenticated === undefined && rules.signatures !== undefined && streamPathKind(path) !== 'stream-index') {
      authenticated = (await this.#judge(upstream, path, digest, rules.signatures)).status === 'valid';
    }
    if (streamPathKind(path) === 'stream-index') {
      knowledge.productsFiles = indexOf(text).slice(0, maxProductsFiles);
      return;
    }
    const files = streamPathKind(path) === 'sums' ? sha256SumsEntries(text, path.slice(0, path.lastIndexOf('/') + 1)) : productsOf(text);
    const others = knowledge.listedCount - (knowledge.sources.get(path)?.files.length ?? 0);
    if (others + files.length > maxListedPerUpstream) {
      this.#o.logger.warn({ upstream, path, files: files.length, listed: others }, `image metadata not read: over ${maxListedPerUpstream} files listed`);
      return;
    }
    const detached = knowledge.replace(path, digest, files, authenticated === true);
    this.#o.logger.debug({ upstream, path, files: files.length, authenticated: authenticated === true }, 'image metadata read');
    // A twin that listed the same files may not any more: read it again from the store.
    for (const alias of detached) {
      const entry = this.#o.index.get(upstream + alias);
      if (entry !== undefined) await this.learn(upstream, alias, entry.digest);
    }
  }

  /** An item still listed (with these bytes) by a stored products or sums file stays; one no longer listed goes first. */
  isReferenced(entry: ObjectEntry): boolean | undefined {
    if (entry.protocol !== 'simplestreams') return undefined;
    const knowledge = this.#knowledge.get(entry.upstream);
    if (knowledge === undefined || knowledge.sources.size === 0 || streamPathKind(entry.path) !== 'item') return undefined;
    return knowledge.listings(entry.path).some((l) => l.sha256 === entry.digest);
  }

  /** How many file listings the stored metadata of an upstream holds (a twin listing the same files counts once). */
  listedFiles(upstream: string): number {
    return this.#knowledge.get(upstream)?.listedCount ?? 0;
  }

  /**
   * Reads the stream's index and the products files it names that are not known yet (through the cache,
   * so they are stored for clients too); true when it fetched anything. Bounded by the max age per file.
   */
  async #discover(upstream: string, knowledge: UpstreamKnowledge, rules: StreamUpstreamRules, fetch: ObjectFetch): Promise<boolean> {
    let asked = await this.#refresh(upstream, streamIndexPath, rules, fetch);
    for (const products of knowledge.productsFiles) {
      if (!knowledge.sources.has(products)) asked = (await this.#refresh(upstream, products, rules, fetch)) || asked;
    }
    return asked;
  }

  #itemVerification(knowledge: UpstreamKnowledge, candidate: AdmitCandidate): Verification {
    const found = knowledge.lookup(candidate.path);
    if (found === undefined || found.listing.sha256 !== candidate.digest) return 'unverified';
    return found.listing.authenticated ? 'authenticated' : 'hash-verified';
  }

  #stale(upstream: string, source: string, rules: StreamUpstreamRules): boolean {
    const entry = this.#o.index.get(upstream + source);
    return entry === undefined || this.#o.clock.now() - entry.validatedAt > rules.maxAgeSeconds * 1000;
  }

  /**
   * Asks the cache for a metadata file when it is stale (the cache revalidates it, and `learn` reads it if it
   * changed), at most once per max age and once at a time. True when it asked.
   */
  async #refresh(upstream: string, source: string, rules: StreamUpstreamRules, fetch: ObjectFetch): Promise<boolean> {
    const key = upstream + source;
    const running = this.#refreshing.get(key);
    if (running !== undefined) {
      await running;
      return true;
    }
    if (!this.#stale(upstream, source, rules)) return false;
    const now = this.#o.clock.now();
    const asked = this.#asked.get(key);
    if (asked !== undefined && now - asked < rules.maxAgeSeconds * 1000) return false;
    if (this.#asked.size >= 100_000) this.#asked.clear();
    this.#asked.set(key, now);
    const done = fetch(source).then(
      (outcome) => {
        // Gone upstream: what it listed no longer vouches for anything.
        if (!outcome.ok && this.#o.index.get(key) === undefined) this.#knowledge.get(upstream)?.forget(source);
      },
      () => undefined,
    );
    this.#refreshing.set(key, done);
    try {
      await done;
    } finally {
      this.#refreshing.delete(key);
    }
    return true;
  }

  /** A signed file's verdict, its companion (SHA256SUMS.gpg, the .sjson twin of a .json) read from the store. */
  async #judge(upstream: string, path: string, digest: string, signatures: SignatureChecker): Promise<SignatureVerdict> {
    const bytes = await readBlob(this.#o.blobs, digest);
    if (bytes === undefined) return { status: 'unsigned' };
    if (path.endsWith('.sjson')) {
      const outcome = await signatures.checkClearsigned(bytes.toString('utf8'));
      if (outcome.status === 'valid') return { status: 'valid', text: outcome.signedText };
      // With a keyring configured for this upstream, its .sjson must be signed by it: anything else is refused.
      return { status: 'bad', reason: 'reason' in outcome ? `${outcome.status}: ${outcome.reason}` : outcome.status };
    }
    const companion = companionOf(path);
    const stored = companion === undefined ? undefined : this.#o.index.get(upstream + companion);
    const companionBytes = stored === undefined ? undefined : await readBlob(this.#o.blobs, stored.digest);
    if (companionBytes === undefined) return { status: 'unsigned' };
    if (streamPathKind(path) === 'sums') {
      const outcome = await signatures.checkDetached(bytes, companionBytes);
      if (outcome.status === 'valid') return { status: 'valid', text: outcome.signedText };
      if (outcome.status === 'unsigned') return { status: 'unsigned' };
      return { status: 'bad', reason: 'reason' in outcome ? `${outcome.status}: ${outcome.reason}` : outcome.status };
    }
    // A .json is signed only through its .sjson twin: the same document, clear-signed by the keyring.
    const twin = await signatures.checkClearsigned(companionBytes.toString('utf8'));
    if (twin.status !== 'valid') return { status: 'unsigned' };
    return sameJson(twin.signedText, bytes.toString('utf8')) ? { status: 'valid', text: twin.signedText } : { status: 'unsigned' };
  }

  #remember(key: string, valid: boolean): void {
    if (this.#verdicts.size >= 1024) this.#verdicts.clear();
    this.#verdicts.set(key, valid);
  }
}

/** Products files and SHA256SUMS teach item hashes; the index teaches which products files there are. */
function teaches(path: string): boolean {
  const kind = streamPathKind(path);
  return kind === 'products' || kind === 'sums' || kind === 'stream-index';
}

function indexOf(text: string): string[] {
  try {
    return indexProductsPaths(JSON.parse(text));
  } catch {
    return [];
  }
}

/** SHA256SUMS -> SHA256SUMS.gpg; `x.json` -> `x.sjson`; nothing for the rest. */
function companionOf(path: string): string | undefined {
  const kind = streamPathKind(path);
  if (kind === 'sums') return `${path}.gpg`;
  if ((kind === 'products' || kind === 'stream-index') && path.endsWith('.json')) return `${path.slice(0, -'.json'.length)}.sjson`;
  return undefined;
}

function productsOf(text: string): ListedFile[] {
  try {
    return productsFileItems(JSON.parse(text));
  } catch {
    return [];
  }
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

async function clearsignedText(text: string): Promise<string | undefined> {
  try {
    // OpenPGP is loaded when a stream is first read this way, not at start-up (see DeferredSignatureChecker).
    const { readCleartextMessage } = await import('openpgp');
    return (await readCleartextMessage({ cleartextMessage: text })).getText();
  } catch {
    return undefined;
  }
}

async function readBlob(blobs: BlobStore, digest: string): Promise<Buffer | undefined> {
  const info = await blobs.stat(digest);
  if (info === undefined || info.size > maxSourceBytes) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of blobs.createReadStream(digest)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
