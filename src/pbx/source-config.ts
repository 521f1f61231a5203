import { IsBoolean, IsOptional } from 'class-validator';
import { Field } from '../connector-sdk';

/**
 * A source's `recordsAllCalls`: the PBX records every call, so privacy mode may give an
 * agent a client's number without the dialplan saying each call is recorded.
 */
export function RecordsAllCalls(): PropertyDecorator {
  return (target, propertyName) => {
    Field({
      description:
        "The PBX records every call (set only if it really does): privacy mode then reveals a client's number to an agent without the dialplan saying that call is recorded",
      example: false,
    })(target, propertyName);
    IsOptional()(target, propertyName);
    IsBoolean()(target, propertyName);
  };
}
