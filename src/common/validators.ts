import { registerDecorator, ValidationOptions } from 'class-validator';
import { CountryCode, isSupportedCountry } from 'libphonenumber-js/max';

/** An ISO 3166 country code that libphonenumber knows ("RU", "KZ"). */
export function isCountryCode(value: string): value is CountryCode {
  return /^[A-Z]{2}$/.test(value) && isSupportedCountry(value);
}

export function isTimeZone(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export function IsTimeZone(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isTimeZone',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: '$property must be an IANA time zone such as Europe/Moscow', ...options },
      validator: { validate: isTimeZone },
    });
}

export function IsCountry(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isCountry',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: '$property must be an ISO 3166 country code such as RU', ...options },
      validator: { validate: (v: unknown) => typeof v === 'string' && isCountryCode(v) },
    });
}

/** A plain JSON object (not an array, not null). */
export function IsPlainObject(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isPlainObject',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: '$property must be an object', ...options },
      validator: {
        validate: (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v),
      },
    });
}

/** The earliest event time the hub takes: older clocks are wrong, not history. */
export const EARLIEST_EVENT_MS = Date.UTC(2000, 0, 1);
/** How far ahead of the hub's clock an event may be (a PBX clock running fast, time zones). */
export const MAX_EVENT_AHEAD_MS = 24 * 3600_000;

/** Why an event time cannot be taken, or null when it can. */
export function eventTimeProblem(at: string, nowMs: number): string | null {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) return 'must be an ISO 8601 time';
  if (ms < EARLIEST_EVENT_MS || ms > nowMs + MAX_EVENT_AHEAD_MS)
    return 'must be between 2000-01-01 and 24 h from now';
  return null;
}

/** An event time between 2000-01-01 and 24 h ahead of now. */
export function IsEventTime(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isEventTime',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: '$property must be between 2000-01-01 and 24 h from now', ...options },
      validator: {
        validate: (v: unknown) => typeof v === 'string' && eventTimeProblem(v, Date.now()) === null,
      },
    });
}
