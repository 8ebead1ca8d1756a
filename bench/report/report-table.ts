// Renders the summary as a Markdown table (figures, then hoard's ratio to each peer) and the targets as a list.
import type { MachineInfo } from '../system/machine-info.ts';
import { metrics } from './metrics.ts';
import type { Summary } from './summary.ts';
import { countTargets, type TargetCheck } from './targets.ts';

function cell(value: number | undefined, digits: number): string {
  if (value === undefined) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Ratio columns are hoard / peer for every figure; the arrow says which way is better for hoard. */
export function renderTable(summary: Summary): string {
  const others = summary.peers.filter((p) => p !== 'hoard');
  const header = ['figure', 'unit', ...summary.peers, ...others.map((p) => `hoard/${p}`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const metric of metrics) {
    const values = summary.peers.map((p) => summary.median(metric.id, p));
    if (values.every((v) => v === undefined)) continue;
    const arrow = metric.better === 'higher' ? ' (higher is better)' : metric.better === 'lower' ? ' (lower is better)' : '';
    const ratios = others.map((p) => {
      const r = summary.ratio(metric.id, p);
      return r === undefined ? 'n/a' : `${r.toFixed(2)}x`;
    });
    lines.push(`| ${metric.label}${arrow} | ${metric.unit} | ${values.map((v) => cell(v, metric.digits)).join(' | ')} | ${ratios.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** One line per target, then the count: `met`, `NOT met`, or `not measured` when a figure is missing. */
export function renderTargets(checks: readonly TargetCheck[]): string {
  const count = countTargets(checks);
  const lines = [
    `Targets: ${count.met} met, ${count.notMet} NOT met${count.notMeasured > 0 ? `, ${count.notMeasured} not measured` : ''}`,
    '',
    '| scenario | target | hoard | met |',
    '| --- | --- | ---: | --- |',
  ];
  for (const c of checks) lines.push(`| (${c.scenario}) | ${c.target} | ${c.value} | ${c.met === undefined ? 'not measured' : c.met ? 'met' : 'NOT met'} |`);
  return lines.join('\n');
}

export function renderMachine(machine: MachineInfo): string {
  return [
    `- CPU: ${machine.cores} x ${machine.cpuModel}; memory ${machine.memoryGiB} GiB; kernel ${machine.kernel}; ${machine.os}`,
    `- Node ${machine.node}; nginx ${machine.nginx}; apt-cacher-ng ${machine.aptCacherNg}; wrk ${machine.wrk}`,
  ].join('\n');
}
