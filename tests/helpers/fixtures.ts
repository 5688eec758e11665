import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/**
 * The third-party sample backups live in the steering repo's shared/fixtures, beside this checkout
 * (CI lays a copy of shared/ next to the clone). LIFEBOAT_FIXTURES overrides.
 */
function fixturesRoot(): string {
  const candidates = [
    process.env.LIFEBOAT_FIXTURES,
    fileURLToPath(new URL('../../../shared/fixtures', import.meta.url)),
    '/work/shared/fixtures',
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`The shared fixtures are missing; looked in ${candidates.join(', ')} (set LIFEBOAT_FIXTURES).`);
  return found;
}

export const FIXTURES = fixturesRoot();
export const MVT_BACKUP = join(FIXTURES, 'mvt-ios-backup');
export const PYIOSBACKUP_ENCRYPTED = join(FIXTURES, 'pyiosbackup-encrypted-0000');
