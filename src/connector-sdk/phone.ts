/**
 * Spellings a CRM that matches phones literally may have stored. For "+74951234567":
 * "+74951234567", "74951234567", "84951234567", "4951234567".
 */
export function phoneVariants(e164: string): string[] {
  const digits = e164.replace(/\D/g, '');
  const out = [e164, digits];
  if (digits.length === 11 && digits.startsWith('7')) {
    out.push(`8${digits.slice(1)}`, digits.slice(1));
  } else if (digits.length > 10) {
    out.push(digits.slice(-10));
  }
  return [...new Set(out)];
}

/**
 * How text the hub writes into a CRM (a lead's title, a task) names the caller: by client code
 * when the tenant keeps numbers from its agents (privacy mode), else by number.
 */
export function clientLabel(
  call: { clientCode?: string; customerPhone: string | null },
  unknown = 'a hidden number',
): string {
  if (call.clientCode) return `client ${call.clientCode}`;
  return call.customerPhone ?? unknown;
}
