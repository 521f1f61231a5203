import type { RouteDecision } from '../routing/routing.types';
import { contactReply } from './vats/vats.controller';
import { replyFor } from './zadarma/zadarma.controller';

const decision: RouteDecision = {
  extension: '101',
  reason: 'responsible',
  contact: { id: '7', name: 'Anna Smirnova', integrationId: 'i-1' },
};

describe('what a steering PBX is told about the caller', () => {
  it('names the contact when privacy mode is off', () => {
    expect(replyFor(decision)).toEqual({
      redirect: '101',
      return_timeout: 20,
      caller_name: 'Anna Smirnova',
    });
    expect(contactReply(decision)).toEqual({ contact_name: 'Anna Smirnova', responsible: '101' });
  });

  it('names the client by code, never by name or number, in privacy mode', () => {
    const coded = { ...decision, display: '482913', callerName: 'Client 482913' };
    expect(replyFor(coded)).toEqual({
      redirect: '101',
      return_timeout: 20,
      caller_name: 'Client 482913',
    });
    expect(contactReply(coded)).toEqual({ contact_name: 'Client 482913', responsible: '101' });
  });
});
