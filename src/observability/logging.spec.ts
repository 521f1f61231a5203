import { loggerParams } from './logging';

type Serializer = (req: { method: string; url: string; id: unknown }) => { url: string };

describe('request log lines', () => {
  const params = loggerParams('info');
  const pinoHttp = params.pinoHttp as { serializers: { req: Serializer } };
  const url = (u: string) => pinoHttp.serializers.req({ method: 'GET', url: u, id: 1 }).url;

  it('drop query strings, recording tokens and CRM callback ids', () => {
    expect(url('/v1/pbx/t/route?format=text')).toBe('/v1/pbx/t/route');
    expect(url('/v1/recordings/eyJ0Ijoi.abc')).toBe('/v1/recordings/[token]');
    expect(
      url('/v1/crm/retailcrm/3f0c2e1a-1111-4111-8111-111111111111/make-call?clientId=s3cret'),
    ).toBe('/v1/crm/retailcrm/[integration]/make-call');
  });
});
