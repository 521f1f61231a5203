import { Injectable } from '@nestjs/common';

/** Wall clock behind an injectable so logic can be tested with a fixed time. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
  nowMs(): number {
    return Date.now();
  }
}
