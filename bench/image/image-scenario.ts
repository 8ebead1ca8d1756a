// The `image` scenario: skopeo pulls a 200 MB image through hoard, through the distribution registry in proxy mode, and from the upstream itself.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../test/support/command-runner.ts';
import { repoRoot } from '../../test/support/hoard-process.ts';
import { DockerRegistry, loopbackOnlyEnv } from '../../test/support/oci-registry.ts';
import { median } from '../report/stats.ts';
import { renderTargets } from '../report/report-table.ts';
import type { TargetCheck } from '../report/targets.ts';
import { findFreePortBelow } from '../system/free-port.ts';
import { ManagedProcess } from '../system/managed-process.ts';
import { buildBenchImage, type BenchImage } from './image-layout.ts';
import { RateLimitedForwarder } from './rate-limited-forwarder.ts';

export const imageScenario = 'image';

/**
 * The issue's setting: the upstream behind a 50 MB/s link, an image of about 200 MB in five layers, 8
 * concurrent clients; warm small-image pulls counted for a few seconds at 1 and 8 clients.
 */
export const imageBenchSettings = {
  upstreamRate: 50_000_000,
  largeLayers: [40, 40, 40, 40, 40].map((mb) => mb * 1_000_000),
  smallLayers: [4096],
  clients: 8,
  smallSeconds: 3,
};

type PeerName = 'hoard' | 'registry-proxy' | 'upstream';
const peerNames: readonly PeerName[] = ['hoard', 'registry-proxy', 'upstream'];

interface RunningImagePeer {
  /** host:port skopeo pulls from while the peer is cold, and once it is warm (the upstream: through the limiter, then directly). */
  readonly coldHost: string;
  readonly warmHost: string;
  stop(): Promise<void>;
}

export interface ImageRun {
  readonly peer: PeerName;
  readonly repetition: number;
  readonly figures: Record<string, number | undefined>;
  readonly failures: string[];
}

interface Context {
  readonly work: string;
  readonly upstream: DockerRegistry;
  readonly limiter: RateLimitedForwarder;
  readonly large: BenchImage;
  readonly small: BenchImage;
  readonly log: (line: string) => void;
}

const hostOf = (url: string) => url.slice('http://'.length);

async function startPeer(name: PeerName, context: Context, dir: string): Promise<RunningImagePeer> {
  if (name === 'upstream') return { coldHost: hostOf(context.limiter.url), warmHost: hostOf(context.upstream.url), stop: () => Promise.resolve() };
  if (name === 'registry-proxy') {
    // distribution's pull-through cache: one upstream per instance, configured by proxy.remoteurl.
    const registry = await DockerRegistry.start({ extraConfig: () => `proxy:\n  remoteurl: ${context.limiter.url}\n` });
    return { coldHost: hostOf(registry.url), warmHost: hostOf(registry.url), stop: () => registry.stop() };
  }
  // hoard as a service runs it (bin/hoard), the upstream registry as its default one.
  const port = await findFreePortBelow(32768);
  await mkdir(join(dir, 'data'), { recursive: true });
  const configPath = join(dir, 'hoard.yaml');
  const config = {
    listen: `127.0.0.1:${port}`,
    dataDir: join(dir, 'data'),
    deniedUpstreamNetworks: [],
    oci: { registries: { up: { url: context.limiter.url } }, defaultRegistry: 'up' },
  };
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const hoard = await ManagedProcess.startListening(
    'hoard',
    {
      command: join(repoRoot, 'bin/hoard'),
      args: ['serve', '--config', configPath],
      cwd: repoRoot,
      logFile: join(dir, 'hoard.log'),
    },
    [port],
  );
  const host = `127.0.0.1:${port}`;
  return {
    coldHost: host,
    warmHost: host,
    stop: async () => {
      await hoard.stop('SIGTERM', 30_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let pullSerial = 0;

/** One `skopeo copy` of `image` from `host` into a fresh dir: (seconds, or an error line). */
async function pull(context: Context, host: string, image: BenchImage, name: string): Promise<number> {
  const dest = join(context.work, `pull-${pullSerial++}`);
  const started = performance.now();
  const result = await runCommand(
    'skopeo',
    ['--insecure-policy', 'copy', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/${name}:${image.tag}`, `dir:${dest}`],
    { env: { ...loopbackOnlyEnv, HOME: context.work, XDG_RUNTIME_DIR: context.work }, timeoutMs: 600_000 },
  );
  const seconds = (performance.now() - started) / 1000;
  await rm(dest, { recursive: true, force: true });
  if (result.exitCode !== 0) throw new Error(`skopeo copy from ${host}/${name}: ${result.stderr.trim().split('\n').at(-1) ?? result.exitCode}`);
  return seconds;
}

/** `clients` pulls at once: the wall time until the last is done. */
async function pullAtOnce(context: Context, host: string, image: BenchImage, name: string, clients: number): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, () => pull(context, host, image, name)));
  return (performance.now() - started) / 1000;
}

/** Pulls per second: `clients` loops pulling one after the other for about `seconds`. */
async function pullRate(
  context: Context,
  host: string,
  image: BenchImage,
  name: string,
  clients: number,
  seconds: number,
): Promise<{ rate: number; pulls: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let pulls = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      // Bounded by the deadline; each pull is bounded by its own timeout.
      while (performance.now() < deadline) {
        await pull(context, host, image, name);
        pulls++;
      }
    }),
  );
  return { rate: pulls / ((performance.now() - started) / 1000), pulls };
}

async function runOne(name: PeerName, repetition: number, context: Context): Promise<ImageRun> {
  const figures: Record<string, number | undefined> = {};
  const failures: string[] = [];
  const { limiter, large, small, log } = context;
  const clients = imageBenchSettings.clients;
  const step = async (what: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (err) {
      failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      log(`  ${name}: ${what} failed: ${failures.at(-1) ?? ''}`);
    }
  };
  const dir = join(context.work, `${name}-${repetition}`);
  let peer = await startPeer(name, context, `${dir}-a`);
  try {
    await step('cold, 1 client', async () => {
      limiter.reset();
      figures['cold1.s'] = await pull(context, peer.coldHost, large, 'bench/large');
      figures['cold1.ratio'] = limiter.bytes / large.bytes;
    });
  } finally {
    await peer.stop();
  }
  peer = await startPeer(name, context, `${dir}-b`);
  try {
    await step(`cold, ${clients} clients`, async () => {
      limiter.reset();
      figures['cold8.s'] = await pullAtOnce(context, peer.coldHost, large, 'bench/large', clients);
      figures['cold8.ratio'] = limiter.bytes / large.bytes;
    });
    await step('warm large, 1 client', async () => {
      figures['warm1.s'] = await pull(context, peer.warmHost, large, 'bench/large');
    });
    await step(`warm large, ${clients} clients`, async () => {
      figures['warm8.s'] = await pullAtOnce(context, peer.warmHost, large, 'bench/large', clients);
    });
    await step('warm small', async () => {
      await pull(context, peer.coldHost, small, 'bench/small');
      limiter.reset();
      const one = await pullRate(context, peer.warmHost, small, 'bench/small', 1, imageBenchSettings.smallSeconds);
      const eight = await pullRate(context, peer.warmHost, small, 'bench/small', clients, imageBenchSettings.smallSeconds);
      figures['small1.rate'] = one.rate;
      figures['small8.rate'] = eight.rate;
      // The upstream itself has no upstream: its own figure would count its clients' requests.
      if (name !== 'upstream') figures['warm.requestsPerPull'] = limiter.requests.length / (one.pulls + eight.pulls);
    });
  } finally {
    await peer.stop();
  }
  return { peer: name, repetition, figures, failures };
}

const rows: ReadonlyArray<{ id: string; label: string; unit: string; digits: number }> = [
  { id: 'cold1.s', label: 'cold pull, 1 client (lower is better)', unit: 's', digits: 2 },
  { id: 'cold1.ratio', label: 'upstream bytes, cold 1 client', unit: 'x image', digits: 2 },
  { id: 'cold8.s', label: 'cold pull, 8 clients at once (lower is better)', unit: 's', digits: 2 },
  { id: 'cold8.ratio', label: 'upstream bytes, cold 8 clients', unit: 'x image', digits: 2 },
  { id: 'warm1.s', label: 'warm large pull, 1 client (lower is better)', unit: 's', digits: 2 },
  { id: 'warm8.s', label: 'warm large pull, 8 clients at once (lower is better)', unit: 's', digits: 2 },
  { id: 'small1.rate', label: 'warm small pulls, 1 client (higher is better)', unit: 'pulls/s', digits: 1 },
  { id: 'small8.rate', label: 'warm small pulls, 8 clients (higher is better)', unit: 'pulls/s', digits: 1 },
  { id: 'warm.requestsPerPull', label: 'upstream requests per warm pull by tag', unit: 'requests', digits: 2 },
];

export function imageMedian(runs: readonly ImageRun[], peer: PeerName, id: string): number | undefined {
  return median(runs.filter((r) => r.peer === peer).flatMap((r) => (r.figures[id] === undefined ? [] : [r.figures[id]])));
}

function renderImageTable(runs: readonly ImageRun[]): string {
  const header = ['figure', 'unit', ...peerNames];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of rows) {
    const cells = peerNames.map((p) => imageMedian(runs, p, row.id)?.toFixed(row.digits) ?? 'n/a');
    lines.push(`| ${row.label} | ${row.unit} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The issue's targets for hoard, each against the figure it names. */
export function checkImageTargets(runs: readonly ImageRun[]): TargetCheck[] {
  const m = (peer: PeerName, id: string) => imageMedian(runs, peer, id);
  const fmt = (v: number | undefined, digits = 2) => (v === undefined ? 'n/a' : v.toFixed(digits));
  const check = (target: string, value: number | undefined, unit: string, bound: number | undefined, ok: (v: number, b: number) => boolean) => ({
    scenario: 'image',
    target: `${target}${bound === undefined ? '' : ` (${fmt(bound)} ${unit})`}`,
    value: `${fmt(value)} ${unit}`,
    met: value === undefined || bound === undefined ? undefined : ok(value, bound),
  });
  const atMost = (v: number, b: number) => v <= b;
  const atLeast = (v: number, b: number) => v >= b;
  const cold1 = m('hoard', 'cold1.s');
  const warm8 = m('hoard', 'warm8.s');
  const direct = m('upstream', 'cold1.s');
  return [
    // Byte ratios: the manifest and config are part of the image, so 1.00x is every byte once; 0.5 % for rounding.
    check('upstream bytes, cold 1 client <= 1.00x the image', m('hoard', 'cold1.ratio'), 'x', 1.005, atMost),
    check('upstream bytes, cold 8 clients <= 1.00x the image', m('hoard', 'cold8.ratio'), 'x', 1.005, atMost),
    check('cold pull, 1 client <= 1.05 x a direct pull', cold1, 's', direct === undefined ? undefined : direct * 1.05, atMost),
    check(
      'cold pull, 8 clients <= 1.05 x (1 cold pull + 8-client warm pull)',
      m('hoard', 'cold8.s'),
      's',
      cold1 === undefined || warm8 === undefined ? undefined : (cold1 + warm8) * 1.05,
      atMost,
    ),
    check('warm large pull, 1 client <= the upstream itself', m('hoard', 'warm1.s'), 's', m('upstream', 'warm1.s'), atMost),
    check('warm large pull, 8 clients <= the upstream itself', warm8, 's', m('upstream', 'warm8.s'), atMost),
    check('warm small pulls, 1 client >= the upstream itself', m('hoard', 'small1.rate'), 'pulls/s', m('upstream', 'small1.rate'), atLeast),
    check('warm small pulls, 8 clients >= the upstream itself', m('hoard', 'small8.rate'), 'pulls/s', m('upstream', 'small8.rate'), atLeast),
    check('no upstream request per warm pull while the tag is fresh', m('hoard', 'warm.requestsPerPull'), 'requests', 0, atMost),
  ];
}

/**
 * Runs the scenario: builds the two images, pushes them into Debian's docker-registry, puts the 50 MB/s
 * forwarder in front, then each peer in turn per repetition (the starting peer rotates). Returns the report text.
 */
export async function runImageScenario(repetitions: number, work: string, log: (line: string) => void): Promise<{ text: string; runs: ImageRun[] }> {
  await mkdir(work, { recursive: true });
  log('image: building a 200 MB image in five layers and a small one');
  const large = await buildBenchImage(join(work, 'large'), '1', imageBenchSettings.largeLayers);
  const small = await buildBenchImage(join(work, 'small'), '1', imageBenchSettings.smallLayers);
  const upstream = await DockerRegistry.start();
  let limiter: RateLimitedForwarder | undefined;
  try {
    for (const [image, name] of [
      [large, 'bench/large'],
      [small, 'bench/small'],
    ] as const) {
      const pushed = await runCommand(
        'skopeo',
        [
          '--insecure-policy',
          'copy',
          '--preserve-digests',
          '--dest-tls-verify=false',
          '--dest-no-creds',
          `oci:${image.dir}:1`,
          `docker://${hostOf(upstream.url)}/${name}:1`,
        ],
        { env: { ...loopbackOnlyEnv, HOME: work, XDG_RUNTIME_DIR: work }, timeoutMs: 600_000 },
      );
      if (pushed.exitCode !== 0) throw new Error(`pushing ${name}: ${pushed.stderr}`);
    }
    await rm(large.dir, { recursive: true, force: true });
    limiter = await RateLimitedForwarder.start(upstream.url, imageBenchSettings.upstreamRate);
    const context: Context = { work, upstream, limiter, large, small, log };
    const runs: ImageRun[] = [];
    for (let rep = 1; rep <= repetitions; rep++) {
      const order = peerNames.map((_, i) => peerNames[(i + rep - 1) % peerNames.length] as PeerName);
      for (const peer of order) {
        log(`image: repetition ${rep}/${repetitions}: ${peer}`);
        const run = await runOne(peer, rep, context);
        log(
          `  ${Object.entries(run.figures)
            .map(([k, v]) => `${k}=${v?.toFixed(2) ?? 'n/a'}`)
            .join(' ')}`,
        );
        runs.push(run);
      }
    }
    const failures = runs.flatMap((r) => r.failures.map((f) => `${r.peer} (repetition ${r.repetition}): ${f}`));
    const text = [
      `image scenario: ${repetitions} repetition(s), medians; a ${(large.bytes / 1e6).toFixed(0)} MB image in ${large.layers} layers and a ${(small.bytes / 1e3).toFixed(1)} KB one; upstream (Debian's docker-registry) behind a ${imageBenchSettings.upstreamRate / 1e6} MB/s link; skopeo copy to dir:`,
      'peers: hoard; registry-proxy = docker-registry with proxy.remoteurl; upstream = the registry itself (cold: through the 50 MB/s link, i.e. a direct pull; warm: directly, the limit)',
      '',
      renderImageTable(runs),
      '',
      renderTargets(checkImageTargets(runs)),
      ...(failures.length > 0 ? ['', 'Failures:', ...failures.map((f) => `- ${f}`)] : []),
      '',
    ].join('\n');
    return { text, runs };
  } finally {
    await limiter?.stop();
    await upstream.stop();
  }
}
