// The figures of the table: how each is read from a peer run, its unit, and which way is better.
import type { PeerRunResult } from '../peer-run.ts';
import type { WrkResult } from '../load/wrk-runner.ts';

export interface Metric {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower' | 'none';
  readonly digits: number;
  read(run: PeerRunResult): number | undefined;
}

const wrkMetrics = (id: string, label: string, pick: (run: PeerRunResult) => WrkResult | undefined): Metric[] => [
  { id: `${id}.rps`, label: `${label}: requests/s`, unit: 'req/s', better: 'higher', digits: 0, read: (r) => pick(r)?.requestsPerSecond },
  { id: `${id}.p50`, label: `${label}: p50 latency`, unit: 'ms', better: 'lower', digits: 2, read: (r) => pick(r)?.p50Ms },
  { id: `${id}.p99`, label: `${label}: p99 latency`, unit: 'ms', better: 'lower', digits: 2, read: (r) => pick(r)?.p99Ms },
  { id: `${id}.errors`, label: `${label}: errors`, unit: 'count', better: 'lower', digits: 0, read: (r) => pick(r)?.errors },
];

export const metrics: readonly Metric[] = [
  { id: 'a.1', label: '(a) warm 200 MB file, 1 client, 1 MiB reader', unit: 'MB/s', better: 'higher', digits: 0, read: (r) => r.large?.mbPerSecond['1'] },
  { id: 'a.8', label: '(a) warm 200 MB file, 8 clients, 1 MiB reader', unit: 'MB/s', better: 'higher', digits: 0, read: (r) => r.large?.mbPerSecond['8'] },
  { id: 'a.curl1', label: '(a) warm 200 MB file, 1 curl client', unit: 'MB/s', better: 'higher', digits: 0, read: (r) => r.large?.curlMbPerSecond['1'] },
  {
    id: 'a.curl8',
    label: '(a) warm 200 MB file, 8 curl clients (aggregate)',
    unit: 'MB/s',
    better: 'higher',
    digits: 0,
    read: (r) => r.large?.curlMbPerSecond['8'],
  },
  ...wrkMetrics('b.ka1', '(b) keep-alive, one 4 KB file, wrk 1 thread', (r) => r.small?.keepAliveByThreads['1']?.one),
  ...wrkMetrics('b.kaMix', '(b) keep-alive, small-file mix, wrk 1 thread', (r) => r.small?.keepAliveByThreads['1']?.mix),
  ...wrkMetrics('b.ka1t2', '(b) keep-alive, one 4 KB file, wrk 2 threads', (r) => r.small?.keepAliveByThreads['2']?.one),
  ...wrkMetrics('b.kaMixt2', '(b) keep-alive, small-file mix, wrk 2 threads', (r) => r.small?.keepAliveByThreads['2']?.mix),
  ...wrkMetrics('b.nc1', '(b) new connection, one 4 KB file', (r) => r.small?.newConnectionOne),
  ...wrkMetrics('b.ncMix', '(b) new connection, small-file mix', (r) => r.small?.newConnectionMix),
  {
    id: 'c.upstreamRequests',
    label: '(c) cold 50 MB x16: upstream requests',
    unit: 'count',
    better: 'lower',
    digits: 0,
    read: (r) => r.cold?.upstreamRequests,
  },
  {
    id: 'c.upstreamMB',
    label: '(c) cold 50 MB x16: upstream body',
    unit: 'MB',
    better: 'lower',
    digits: 1,
    read: (r) => (r.cold === undefined ? undefined : r.cold.upstreamBytes / 1e6),
  },
  { id: 'c.wall', label: '(c) cold 50 MB x16: wall time, all done', unit: 's', better: 'lower', digits: 2, read: (r) => r.cold?.wallSeconds },
  { id: 'c.ttfb', label: '(c) cold 50 MB x16: median time to first byte', unit: 's', better: 'lower', digits: 3, read: (r) => r.cold?.medianFirstByteSeconds },
  { id: 'c.correct', label: '(c) cold 50 MB x16: correct bodies', unit: 'of 16', better: 'higher', digits: 0, read: (r) => r.cold?.correctBodies },
  {
    id: 'images.upstream',
    label: '(images) cold 500 MB x8: upstream body / item size',
    unit: 'x',
    better: 'lower',
    digits: 2,
    read: (r) => r.images?.cold?.upstreamRatio,
  },
  { id: 'images.wall', label: '(images) cold 500 MB x8: wall time, all done', unit: 's', better: 'lower', digits: 2, read: (r) => r.images?.cold?.wallSeconds },
  {
    id: 'images.ttfb',
    label: '(images) cold 500 MB x8: median time to first byte',
    unit: 's',
    better: 'lower',
    digits: 3,
    read: (r) => r.images?.cold?.medianFirstByteSeconds,
  },
  {
    id: 'images.correct',
    label: '(images) cold 500 MB x8: correct bodies',
    unit: 'of 8',
    better: 'higher',
    digits: 0,
    read: (r) => r.images?.cold?.correctBodies,
  },
  { id: 'images.warm8', label: '(images) warm 500 MB item, 8 clients', unit: 'MB/s', better: 'higher', digits: 0, read: (r) => r.images?.warmMbPerSecond },
  {
    id: 'd.rss',
    label: '(d) peak resident memory (VmHWM, all processes)',
    unit: 'MB',
    better: 'lower',
    digits: 1,
    read: (r) => (r.peakRssBytes === undefined ? undefined : r.peakRssBytes / 1e6),
  },
  {
    id: 'e.cold',
    label: '(e) apt update + download all, cold cache',
    unit: 's',
    better: 'lower',
    digits: 2,
    read: (r) => (r.aptCold?.ok === true ? r.aptCold.totalSeconds : undefined),
  },
  {
    id: 'e.warm',
    label: '(e) apt update + download all, warm cache',
    unit: 's',
    better: 'lower',
    digits: 2,
    read: (r) => (r.aptWarm?.ok === true ? r.aptWarm.totalSeconds : undefined),
  },
  {
    id: 'f.speed',
    label: '(f) cold 200 MB file, first fetch, 1 curl client',
    unit: 'MB/s',
    better: 'higher',
    digits: 0,
    read: (r) => r.coldLarge?.mbPerSecond,
  },
  {
    id: 'f.cpu',
    label: "(f) cold 200 MB file: the server's CPU for it (all processes)",
    unit: 's',
    better: 'lower',
    digits: 2,
    read: (r) => r.coldLarge?.cpu.totalSeconds,
  },
];
