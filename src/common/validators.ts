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
