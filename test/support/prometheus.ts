/** One sample of the Prometheus text format: `name{label="value",…} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL = /[a-zA-Z_][a-zA-Z0-9_]*/y;

/** As Prometheus reads them: NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(text: string): number {
  const special = text.toLowerCase();
  if (special === '+inf' || special === 'inf') return Infinity;
  if (special === '-inf') return -Infinity;
  if (special === 'nan') return NaN;
  const n = Number(text);
  if (Number.isNaN(n)) throw new Error(`not a sample value: ${text}`);
  return n;
}

/** Parses one sample line (comments and blank lines are the caller's to skip). */
function parseLine(line: string): Sample {
  NAME.lastIndex = 0;
  const name = NAME.exec(line)?.[0];
  if (!name) throw new Error(`no metric name in: ${line}`);
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      LABEL.lastIndex = i;
      const label = LABEL.exec(line)?.[0];
      if (!label || line[i + label.length] !== '=' || line[i + label.length + 1] !== '"')
        throw new Error(`bad label at ${i} in: ${line}`);
      i += label.length + 2;
      let value = '';
      for (; line[i] !== '"'; i++) {
        if (i >= line.length) throw new Error(`unterminated label value in: ${line}`);
        if (line[i] === '\\') {
          i++;
          value += line[i] === 'n' ? '\n' : line[i];
        } else value += line[i];
      }
      labels[label] = value;
      i++;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`bad label list at ${i} in: ${line}`);
    }
    i++;
  }
  const [value] = line.slice(i).trim().split(/\s+/);
  return { name, labels, value: parseValue(value) };
}

/** Every sample of a scrape, in order. */
export function parsePrometheus(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map(parseLine);
}

/** A parsed scrape, read by exact label sets. */
export class Scrape {
  readonly samples: Sample[];

  constructor(text: string) {
    this.samples = parsePrometheus(text);
  }

  /** The value of the series with exactly these labels; 0 when it does not exist (yet). */
  value(name: string, labels: Record<string, string> = {}): number {
    const wanted = Object.entries(labels);
    const found = this.samples.filter(
      (s) =>
        s.name === name &&
        Object.keys(s.labels).length === wanted.length &&
        wanted.every(([k, v]) => s.labels[k] === v),
    );
    if (found.length > 1) throw new Error(`${name} has ${found.length} series with those labels`);
    return found[0]?.value ?? 0;
  }

  /** The sum over every series of the metric whose labels include these. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((total, s) => total + s.value, 0);
  }

  has(name: string, labels: Record<string, string> = {}): boolean {
    const wanted = Object.entries(labels);
    return this.samples.some(
      (s) =>
        s.name === name &&
        Object.keys(s.labels).length === wanted.length &&
        wanted.every(([k, v]) => s.labels[k] === v),
    );
  }
}
