/**
 * Test helper: reads a service's `/metrics` as the samples Prometheus would
 * take. The sample lines of the text format are parsed here by hand, because
 * the npm parser we tried (parse-prometheus-text-format 1.1.1) drops a
 * histogram's labels, sum and count; the grammar of a sample line (name,
 * optional {labels}, value) is all a test needs.
 */

/** One sample: a metric name, its labels and its value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of one scrape. */
export class Scrape {
  constructor(readonly samples: readonly Sample[], readonly text: string) {}

  /**
   * The sum of the values of the samples named `name` whose labels include
   * `labels` (0 when there is none): for a counter, its total over the
   * other labels; for a histogram, ask for `name_count` or `name_sum`.
   */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((sum, sample) => sum + sample.value, 0);
  }

  /** The samples named `name` whose labels include `labels`. */
  matching(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((sample) =>
      sample.name === name &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
    );
  }

  /** Whether any sample is named `name`. */
  has(name: string): boolean {
    return this.samples.some((sample) => sample.name === name);
  }
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

/** Parses the text format's sample lines; comments and blank lines are skipped. */
export function parseMetrics(text: string): Scrape {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = sampleLine.exec(line);
    if (!match) throw new Error(`Cannot read the metrics line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? "";
    labelPair.lastIndex = 0;
    let read = 0;
    let pair: RegExpExecArray | null;
    while ((pair = labelPair.exec(body)) !== null) {
      labels[pair[1]!] = pair[2]!.replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
      read = labelPair.lastIndex;
    }
    if (read !== body.length) {
      throw new Error(`Cannot read the labels of the metrics line: ${line}`);
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return new Scrape(samples, text);
}

/** GETs a /metrics URL and parses it; throws unless it answers 200 in Prometheus's format. */
export async function scrapeMetrics(url: string): Promise<Scrape> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`Cannot scrape ${url}: ${response.status} ${text.slice(0, 200)}`);
  }
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("text/plain")) {
    throw new Error(`Cannot scrape ${url}: content-type ${type}, not Prometheus's text format`);
  }
  return parseMetrics(text);
}
