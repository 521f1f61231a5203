import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, Matches } from 'class-validator';
import { IsPlainObject } from '../common/validators';

export class AgentDto {
  @ApiProperty({ example: '101' })
  @IsString()
  @Matches(/^[A-Za-z0-9*#._@-]{1,32}$/, {
    message: '$property must be 1-32 characters of an extension',
  })
  extension: string;

  @ApiPropertyOptional({ example: 'Ivan Petrov' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  name?: string;

  @ApiProperty({
    example: { '3f0c…': '27' },
    description: 'integrationId → the CRM user id of this agent',
  })
  @ApiPropertyOptional({
    example: '+79161234567',
    description:
      "A number the PBX forwards this agent's calls to (follow-me, after hours); a call answered there is this agent's",
  })
  @IsOptional()
  @IsString()
  @Length(3, 32)
  mobile?: string;

  @IsPlainObject()
  crmUsers: Record<string, string | number>;
}

export interface AgentView {
  extension: string;
  name: string | null;
  /** Present when the agent has one (the contract's optional field). */
  mobile?: string;
  crmUsers: Record<string, string>;
}
