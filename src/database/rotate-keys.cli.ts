import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { SecretBox } from '../common/secret-box';
import { ConfigError, loadConfig } from '../config/config';
import { prepareEnv } from '../config/dotenv';
import { dataSourceOptions } from './database';
import { describeRotation, rotateSecrets, rotationComplete } from './key-rotation';

/**
 * npm run keys:rotate: seals every stored secret with HUB_ENCRYPTION_KEY, opening the old
 * ones with HUB_ENCRYPTION_KEY_PREVIOUS. Exits 1 when anything could not be read.
 */
async function main(): Promise<number> {
  prepareEnv();
  const config = loadConfig();
  if (!config.encryptionKeyPrevious) {
    console.log(
      'HUB_ENCRYPTION_KEY_PREVIOUS is not set: checking that every secret opens with HUB_ENCRYPTION_KEY',
    );
  }
  const db = new DataSource(dataSourceOptions(config.databaseUrl));
  await db.initialize();
  try {
    const report = await rotateSecrets(db, SecretBox.fromConfig(config));
    for (const line of describeRotation(report)) console.log(line);
    if (!rotationComplete(report)) {
      console.error('not complete: keep HUB_ENCRYPTION_KEY_PREVIOUS set until this reports none');
      return 1;
    }
    return 0;
  } finally {
    await db.destroy();
  }
}

main()
  .then((code) => process.exit(code))
  .catch((err: Error) => {
    console.error(err instanceof ConfigError ? err.message : `keys:rotate failed: ${err.message}`);
    process.exit(1);
  });
