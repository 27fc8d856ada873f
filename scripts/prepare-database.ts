/**
 * Builds the prepared PGlite database (db/template.ts) at install time: `npm ci` runs this as the project's
 * `postinstall`, so the first start on a fresh DATA_DIR copies it instead of creating and migrating a database.
 * A start still builds it when it is missing or was made for other migrations, PGlite or pg-boss.
 */
import { MIGRATIONS_FOLDER } from '../db/client.ts';
import { prepareTemplate } from '../db/template.ts';

const started = performance.now();
const dir = await prepareTemplate(MIGRATIONS_FOLDER);
console.log(`switchboard: prepared database for a fresh DATA_DIR at ${dir} (${Math.round(performance.now() - started)} ms)`);
