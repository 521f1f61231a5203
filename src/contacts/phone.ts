import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { isCountryCode } from '../common/validators';

/** An internal PBX extension: short digits, kept exactly as the PBX sent it. */
export function isExtension(raw: string): boolean {
  return /^[0-9*#]{1,6}$/.test(raw);
}

/**
 * "8 (495) 123-45-67", "74951234567" and "+7 495 123 45 67" with country RU are all
 * "+74951234567". Returns null when the input is not a valid phone number.
 */
const e164Cache = new Map<string, string | null>();
const E164_CACHE_MAX = 50000;

export function toE164(raw: string, defaultCountry: string): string | null {
  // PBXs repeat the same lines and customers all day; parsing is the costly part.
  const key = `${defaultCountry}|${raw}`;
  const hit = e164Cache.get(key);
  if (hit !== undefined) return hit;
  const result = parseE164(raw, defaultCountry);
  if (e164Cache.size >= E164_CACHE_MAX) e164Cache.clear();
  e164Cache.set(key, result);
  return result;
}

function parseE164(raw: string, defaultCountry: string): string | null {
  const trimmed = raw.trim();
  if (!/[0-9]/.test(trimmed) || trimmed.length > 40) return null;
  const country = isCountryCode(defaultCountry) ? defaultCountry : undefined;
  let parsed = parsePhoneNumberFromString(trimmed, country);
  // A number written with its country code but without "+" ("74951234567" in US) still deserves a try.
  if ((!parsed || !parsed.isValid()) && /^\d{10,15}$/.test(trimmed)) {
    parsed = parsePhoneNumberFromString(`+${trimmed}`);
  }
  return parsed && parsed.isValid() ? parsed.number : null;
}

/** A party as the call record keeps it: extensions as sent, anything else in E.164. */
export function normalizeParty(raw: string, defaultCountry: string): string | null {
  if (isExtension(raw)) return raw;
  return toE164(raw, defaultCountry);
}

export interface NumberClass {
  /** ISO country of the number; null for non-geographic networks (satellite, +800, +882, …). */
  country: string | null;
  /** A premium-rate number: the caller pays the callee's tariff (RU 8-809, US 1-900, …). */
  premium: boolean;
}

/**
 * Country and premium-rate class of a valid E.164 number (libphonenumber's metadata). RU's
 * +7 809 range is premium-rate by numbering plan whatever the metadata version says.
 */
export function classifyNumber(e164: string): NumberClass {
  const parsed = parsePhoneNumberFromString(e164);
  return {
    country: parsed?.country ?? null,
    premium: parsed?.getType() === 'PREMIUM_RATE' || e164.startsWith('+7809'),
  };
}
