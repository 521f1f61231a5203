import { IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { Field } from '../../connector-sdk';
import { RecordsAllCalls } from '../source-config';

export const DEFAULT_AMI_PORT = 5038;

/** The AMI port of a source's config (the default when unset). */
export function amiPort(config: { port?: unknown }): number {
  return typeof config.port === 'number' ? config.port : DEFAULT_AMI_PORT;
}

export class AsteriskSourceConfig {
  @Field({
    description:
      "Host name or IP address of the Asterisk server's manager interface (AMI); the hub connects to it",
    example: 'pbx.example.com',
  })
  @IsString()
  @Length(1, 255)
  host: string;

  @Field({
    description: 'AMI TCP port (port in the [general] section of manager.conf)',
    example: DEFAULT_AMI_PORT,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  port?: number = DEFAULT_AMI_PORT;

  @Field({
    description:
      "Where a call's MixMonitor recording can be downloaded: {file} is the recording's file name, {uniqueid} and {linkedid} the channel's and the call's ids. Unset: calls have no recordings",
    example: 'https://pbx.example.com/rec/{file}',
  })
  @IsOptional()
  @IsString()
  @Length(1, 1000)
  recordingUrlTemplate?: string;

  /** Dialplan context click-to-call rings the agent through (`Local/<ext>@<context>`). */
  @Field({
    description:
      'Dialplan context click-to-call rings the agent through (Local/<extension>@<context>); from-internal when unset',
    example: 'from-internal',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,80}$/)
  originateContext?: string;

  /** The PBX records every call (privacy mode's resolve relies on it). */
  @RecordsAllCalls()
  recordsAllCalls?: boolean;
}

export class AsteriskCredentials {
  @Field({
    description:
      'AMI user: the [name] of a manager.conf user with read = call,agent,dialplan,cdr and write = originate,call,system',
    example: 'crmhub',
  })
  @IsString()
  @Length(1, 200)
  username: string;

  @Field({ description: "That manager user's secret (secret = in manager.conf)", secret: true })
  @IsString()
  @Length(1, 200)
  secret: string;
}
