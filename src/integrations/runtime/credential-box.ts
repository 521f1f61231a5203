import { Inject, Injectable } from '@nestjs/common';
import { SecretBox } from '../../common/secret-box';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import type { TokenSet } from '../../connector-sdk';
import type { Integration } from '../integration.entity';

/**
 * Seals an integration's credentials and tokens (AES-256-GCM), each bound to its row and
 * purpose so a ciphertext copied elsewhere does not open.
 */
@Injectable()
export class CredentialBox {
  private readonly box: SecretBox;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.box = SecretBox.fromConfig(config);
  }

  sealCredentials(integrationId: string, credentials: object): string {
    return this.box.sealJson(credentials, `integration:${integrationId}:credentials`);
  }

  openCredentials(
    integration: Pick<Integration, 'id' | 'credentialsEnc'>,
  ): Record<string, unknown> {
    return this.box.openJson(
      integration.credentialsEnc,
      `integration:${integration.id}:credentials`,
    );
  }

  sealTokens(integrationId: string, tokens: TokenSet): string {
    return this.box.sealJson(tokens, `integration:${integrationId}:tokens`);
  }

  openTokens(integrationId: string, sealed: string): TokenSet {
    return this.box.openJson<TokenSet>(sealed, `integration:${integrationId}:tokens`);
  }
}
