/**
 * A small in-process cache for hot paths: a fresh entry is served as is; a stale one is
 * served while one background load refreshes it (so no request waits on the database
 * for data that changes rarely); a missing or too-old entry is loaded before answering.
 */
export class SwrCache<K, V> {
  private readonly entries = new Map<K, { value: V; at: number }>();
  private readonly loading = new Map<K, Promise<V>>();

  constructor(
    private readonly loader: (key: K) => Promise<V>,
    private readonly options: {
      freshMs: number;
      staleMs: number;
      max?: number;
      /** The time in ms; the hub passes its Clock. */
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  async get(key: K): Promise<V> {
    const entry = this.entries.get(key);
    const age = entry ? this.now() - entry.at : Infinity;
    if (entry && age < this.options.freshMs) return entry.value;
    if (entry && age < this.options.freshMs + this.options.staleMs) {
      void this.load(key).catch(() => undefined);
      return entry.value;
    }
    return this.load(key);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  private load(key: K): Promise<V> {
    const running = this.loading.get(key);
    if (running) return running;
    const p = this.loader(key)
      .then((value) => {
        if (this.entries.size >= (this.options.max ?? 10000)) this.entries.clear();
        this.entries.set(key, { value, at: this.now() });
        return value;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }
}
