import { AsyncLocalStorage } from 'node:async_hooks';

interface Scope {
  onFirstSend: () => Promise<void>;
  sent: boolean;
}

/**
 * Marks a CRM action as "its request may have left the hub" at the last moment: after the
 * request got its rate-limit slot, before it goes on the wire. Only then is a create in
 * doubt after a crash (and reconciled with the CRM); waiting for a slot is not sending.
 */
export class SendingScope {
  private static readonly storage = new AsyncLocalStorage<Scope>();

  /** Runs `work`; the first request it sends calls `onFirstSend` before leaving. */
  static run<T>(onFirstSend: () => Promise<void>, work: () => Promise<T>): Promise<T> {
    return SendingScope.storage.run({ onFirstSend, sent: false }, work);
  }

  /** Called by the HTTP client right before a request goes out. */
  static async beforeSend(): Promise<void> {
    const scope = SendingScope.storage.getStore();
    if (!scope || scope.sent) return;
    scope.sent = true;
    await scope.onFirstSend();
  }
}
