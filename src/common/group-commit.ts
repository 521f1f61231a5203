/**
 * Runs work items in groups: while a group is being written, newcomers wait and
 * leave together in the next one. At low load each item goes alone at once (no
 * added latency); under load many concurrent requests share one statement, the way
 * a database's group commit shares one flush. With `hold`, a group may also wait to
 * grow while whatever consumes the writes is busy anyway.
 */
export class GroupCommit<TItem, TResult> {
  private waiting: { item: TItem; resolve: (r: TResult) => void; reject: (e: unknown) => void }[] =
    [];
  private running = 0;
  private holding = false;

  constructor(
    private readonly write: (items: TItem[]) => Promise<TResult[]>,
    private readonly options: {
      maxInFlight: number;
      maxGroup: number;
      weight?: (item: TItem) => number;
      /**
       * Asked before a group is taken: undefined to write now, or a wait (which must not
       * reject) during which newcomers join the group.
       */
      hold?: () => Promise<void> | undefined;
    },
  ) {}

  submit(item: TItem): Promise<TResult> {
    return new Promise<TResult>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Items submitted and not yet written. */
  get pending(): number {
    return this.waiting.length;
  }

  private pump(): void {
    while (this.running < this.options.maxInFlight && this.waiting.length > 0 && !this.holding) {
      const hold = this.options.hold?.();
      if (hold) {
        this.holding = true;
        void hold.then(() => {
          this.holding = false;
          this.pump();
        });
        return;
      }
      const group = this.take();
      this.running++;
      this.write(group.map((g) => g.item))
        .then(
          (results) => group.forEach((g, i) => g.resolve(results[i])),
          (err: unknown) => group.forEach((g) => g.reject(err)),
        )
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  private take(): typeof this.waiting {
    const weight = this.options.weight ?? (() => 1);
    let total = 0;
    let n = 0;
    while (n < this.waiting.length) {
      const w = weight(this.waiting[n].item);
      if (n > 0 && total + w > this.options.maxGroup) break;
      total += w;
      n++;
    }
    return this.waiting.splice(0, n);
  }
}
