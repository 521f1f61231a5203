import { Init1764100000000 } from './1764100000000-init';

/** Every migration, oldest first. Listed explicitly so ts-jest and the built app load the same set. */
export const MIGRATIONS = [Init1764100000000];
