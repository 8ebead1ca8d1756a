// Scrapes a Prometheus endpoint and reads values out of it with a real text-format parser.
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';

export class Scrape {
  readonly families: Map<string, PromFamily>;
  constructor(text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  static async from(url: string): Promise<Scrape> {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return new Scrape(await response.text());
  }

  /** The sample of `name` whose labels include `labels`; 0 when the family has no such sample. */
  value(name: string, labels: Record<string, string> = {}): number {
    const family = this.families.get(name);
    if (family === undefined) throw new Error(`no metric family ${name}`);
    // The sum over every series carrying these labels: a family split by more labels (protocol) still adds up.
    const samples = family.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    return samples.reduce((sum, m) => sum + (m.value === undefined ? 0 : Number(m.value)), 0);
  }

  /** Observations over every series of a histogram (its +Inf buckets; this parser keeps no _count for labelled series). */
  histogramCount(name: string): number {
    const family = this.families.get(name);
    if (family?.type !== 'HISTOGRAM') throw new Error(`${name} is not a histogram`);
    return family.metrics.reduce((n, m) => n + Number(m.buckets?.['+Inf'] ?? m.count ?? 0), 0);
  }
}
