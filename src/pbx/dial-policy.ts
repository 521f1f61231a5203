import { classifyNumber } from '../contacts/phone';
import type { DialPolicy } from '../tenants/tenant.dto';

/**
 * Why click-to-call may not dial this number under the tenant's policy, or null when it may.
 * `e164` is a valid number; internal extensions never get here. The answer names the rule.
 */
export function dialPolicyProblem(policy: DialPolicy, e164: string): string | null {
  const { country, premium } = classifyNumber(e164);
  const domestic = country !== null && policy.countries.includes(country);
  if (!domestic && !policy.allowInternational) {
    const allowed = policy.countries.length ? policy.countries.join(', ') : 'none';
    return `international destinations are not allowed for this tenant (dialPolicy.countries: ${allowed}; dialPolicy.allowInternational is false)`;
  }
  if (premium && !policy.allowPremium) {
    return 'premium-rate numbers are not allowed for this tenant (dialPolicy.allowPremium is false)';
  }
  return null;
}
