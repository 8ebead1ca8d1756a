// `hoard warm --sources <file> --packages <list>`: fetches packages and their dependencies through the cache, so later clients hit.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { parseDeb822, parseDeb822Stream, type Deb822Paragraph } from '../protocols/apt/deb822.ts';
import { createDecompressor, compressionOf } from '../protocols/apt/index-compression.ts';
import { packageFilesFromPackages, type PackageFile } from '../protocols/apt/package-index.ts';
import { parseRelease, type ReleaseFile } from '../protocols/apt/release-file.ts';
import type { ProgressReporter } from './progress-reporter.ts';

export interface AptSourceLine {
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
}

/** `deb [opts] uri suite comp...` lines and deb822 `.sources` paragraphs (Types: deb). deb-src is skipped: warm fetches binaries. */
export function parseSourcesFile(text: string): AptSourceLine[] {
  const out: AptSourceLine[] = [];
  if (/^\s*(Types|URIs)\s*:/im.test(text)) {
    for (const p of parseDeb822(text)) {
      const types = (p.get('Types') ?? '').split(/\s+/);
      if (!types.includes('deb') || /^no$/i.test(p.get('Enabled') ?? 'yes')) continue;
      for (const uri of (p.get('URIs') ?? '').split(/\s+/).filter(Boolean)) {
        for (const suite of (p.get('Suites') ?? '').split(/\s+/).filter(Boolean))
          out.push({ uri, suite, components: (p.get('Components') ?? '').split(/\s+/).filter(Boolean) });
      }
    }
    return out;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (m) out.push({ uri: m[1] as string, suite: m[2] as string, components: (m[3] ?? '').split(/\s+/).filter(Boolean) });
  }
  return out;
}

/** The URL of `path` under `uri`, reached through the cache in prefix mode (`http://cache/host/path`, `http://cache/HTTPS///host/path`). */
export function throughCache(cacheUrl: string, uri: string, path: string): string {
  const upstream = new URL(uri.endsWith('/') ? uri : `${uri}/`);
  const rel = path.replace(/^\/+/, '');
  const base = cacheUrl.replace(/\/+$/, '');
  const hostPath = `${upstream.host}${upstream.pathname}${rel}`;
  return upstream.protocol === 'https:' ? `${base}/HTTPS///${hostPath}` : `${base}/${hostPath}`;
}

interface Candidate {
  readonly paragraph: Deb822Paragraph;
  readonly file: PackageFile;
  readonly source: AptSourceLine;
}

/** Names in a Depends-like field: the first alternative of each clause, versions, arch lists and qualifiers stripped. */
export function dependencyNames(field: string | undefined): string[] {
  if (field === undefined) return [];
  return field
    .split(',')
    .map((clause) =>
      (clause.split('|')[0] ?? '')
        .replace(/\([^)]*\)|\[[^\]]*\]|<[^>]*>/g, '')
        .trim()
        .replace(/:\w+$/, ''),
    )
    .filter(Boolean);
}

/** The named packages plus everything their Depends and Pre-Depends pull in (first alternative; Provides for virtual names). */
export function resolveWithDependencies(
  requested: readonly string[],
  byName: Map<string, Candidate>,
  provides: Map<string, string>,
): { found: Candidate[]; missing: string[] } {
  const found = new Map<string, Candidate>();
  const missing: string[] = [];
  const queue = [...requested];
  // Bounded: each name is expanded once, and there are finitely many.
  while (queue.length > 0) {
    const wanted = queue.shift() as string;
    const name = byName.has(wanted) ? wanted : (provides.get(wanted) ?? wanted);
    if (found.has(name)) continue;
    const candidate = byName.get(name);
    if (candidate === undefined) {
      if (!missing.includes(wanted)) missing.push(wanted);
      continue;
    }
    found.set(name, candidate);
    queue.push(...dependencyNames(candidate.paragraph.get('Depends')), ...dependencyNames(candidate.paragraph.get('Pre-Depends')));
  }
  return { found: [...found.values()], missing: missing.filter((m) => !requested.includes(m) || !found.has(m)) };
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  return response;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function loadPackages(cacheUrl: string, source: AptSourceLine, arch: string, release: ReleaseFile): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const components = source.components.length > 0 ? source.components : release.components;
  for (const component of components) {
    // The compressions hoard can decode, best first; the Release lists every variant with its own hash.
    const name = ['xz', 'gz', ''].map((ext) => `${component}/binary-${arch}/Packages${ext === '' ? '' : `.${ext}`}`).find((n) => release.files.has(n));
    if (name === undefined) continue;
    const bytes = new Uint8Array(await (await fetchOk(throughCache(cacheUrl, source.uri, `dists/${source.suite}/${name}`))).arrayBuffer());
    const expected = release.files.get(name);
    if (expected?.sha256 !== undefined && sha256(bytes) !== expected.sha256)
      throw new Error(`${name} of ${source.uri} ${source.suite} does not match its Release hash`);
    const decompressor = createDecompressor(compressionOf(name));
    if (decompressor === undefined) continue;
    for await (const paragraph of parseDeb822Stream(Readable.from([bytes]).pipe(decompressor))) {
      out.push({ paragraph, file: packageFilesFromPackages(paragraph), source });
    }
  }
  return out;
}

export interface WarmOptions {
  readonly cacheUrl: string;
  readonly sourcesFile: string;
  readonly packages: readonly string[];
  readonly arch: string;
  readonly withDependencies: boolean;
}

export async function warmCommand(o: WarmOptions, progress: ProgressReporter, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const sources = parseSourcesFile(await readFile(o.sourcesFile, 'utf8'));
  if (sources.length === 0) throw new Error(`no "deb" source in ${o.sourcesFile}`);
  const byName = new Map<string, Candidate>();
  const provides = new Map<string, string>();
  for (const source of sources) {
    const inRelease = await (await fetchOk(throughCache(o.cacheUrl, source.uri, `dists/${source.suite}/InRelease`))).text();
    for (const candidate of await loadPackages(o.cacheUrl, source, o.arch, parseRelease(inRelease))) {
      const name = candidate.paragraph.get('Package') ?? '';
      // The first source listing a package wins, as a plain apt pin would without priorities.
      if (!byName.has(name)) byName.set(name, candidate);
      for (const virtual of dependencyNames(candidate.paragraph.get('Provides'))) if (!provides.has(virtual)) provides.set(virtual, name);
    }
  }
  const { found, missing } = o.withDependencies
    ? resolveWithDependencies(o.packages, byName, provides)
    : { found: o.packages.flatMap((p) => byName.get(p) ?? []), missing: o.packages.filter((p) => !byName.has(p)) };
  let failed = 0;
  let bytes = 0;
  for (const [i, candidate] of found.entries()) {
    const url = throughCache(o.cacheUrl, candidate.source.uri, candidate.file.path);
    try {
      const body = new Uint8Array(await (await fetchOk(url)).arrayBuffer());
      if (candidate.file.sha256 !== undefined && sha256(body) !== candidate.file.sha256) throw new Error('hash differs from the Packages index');
      bytes += body.length;
      progress.update(i + 1, found.length, candidate.file.path);
    } catch (err) {
      failed += 1;
      progress.update(i + 1, found.length, `FAILED ${candidate.file.path}: ${(err as Error).message}`);
    }
  }
  progress.done(
    `warmed ${found.length - failed} of ${found.length} files (${bytes} bytes)${missing.length > 0 ? `; not in the indices: ${missing.join(', ')}` : ''}${failed > 0 ? `; ${failed} failed` : ''}`,
  );
  out.write(`${JSON.stringify({ files: found.length, failed, bytes, missing })}\n`);
  return failed > 0 || missing.length > 0 ? 1 : 0;
}
