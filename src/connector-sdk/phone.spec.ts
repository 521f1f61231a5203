import { phoneVariants } from './phone';

describe('phoneVariants', () => {
  it('spells a Russian number the ways a literal-matching CRM may store it', () => {
    expect(phoneVariants('+74951234567')).toEqual([
      '+74951234567',
      '74951234567',
      '84951234567',
      '4951234567',
    ]);
  });
});
