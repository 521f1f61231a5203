import { bodyProblem, MAX_BODY_DEPTH } from './body-guard';

describe('bodyProblem', () => {
  it('accepts ordinary bodies', () => {
    expect(bodyProblem({ events: [{ id: 'e1', callId: 'c1' }] })).toBeNull();
    expect(bodyProblem([{ extension: '101', crmUsers: {} }])).toBeNull();
    expect(bodyProblem('text')).toBeNull();
  });

  it('names a prototype key wherever it hides', () => {
    expect(bodyProblem({ direction: { constructor: 1 } })).toBe(
      'body.direction.constructor is not an allowed field name',
    );
    expect(bodyProblem(JSON.parse('{"events":[{"__proto__":{"x":1}}]}'))).toBe(
      'body.events.0.__proto__ is not an allowed field name',
    );
  });

  it('refuses trees deeper than the limit without overflowing', () => {
    const deep = JSON.parse('{"a":'.repeat(5000) + '1' + '}'.repeat(5000));
    expect(bodyProblem(deep)).toMatch(new RegExp(`nested deeper than ${MAX_BODY_DEPTH}`));
    const ok = JSON.parse('['.repeat(MAX_BODY_DEPTH - 1) + ']'.repeat(MAX_BODY_DEPTH - 1));
    expect(bodyProblem(ok)).toBeNull();
  });
});
