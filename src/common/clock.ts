import { Injectable } from '@nestjs/common';

/**
 * The time, behind an injectable class (Immich's clock): services ask it instead of
 * calling Date.now(), so tests can hold time still or move it.
 */
@Injectable()
export class Clock {
  nowMs(): number {
    return Date.now();
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  /** Whole seconds since the epoch. */
  nowS(): number {
    return Math.floor(this.nowMs() / 1000);
  }
}

/** A clock that moves only when told to. */
export class ManualClock extends Clock {
  constructor(private ms: number = Date.now()) {
    super();
  }

  override nowMs(): number {
    return this.ms;
  }

  set(at: Date | number): void {
    this.ms = typeof at === 'number' ? at : at.getTime();
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}
