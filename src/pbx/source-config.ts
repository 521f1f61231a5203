import { IsBoolean, IsOptional } from 'class-validator';

/**
 * A source's `recordsAllCalls`: the PBX records every call, so privacy mode may give an
 * agent a client's number without the dialplan saying each call is recorded.
 */
export function RecordsAllCalls(): PropertyDecorator {
  return (target, propertyName) => {
    IsOptional()(target, propertyName);
    IsBoolean()(target, propertyName);
  };
}
