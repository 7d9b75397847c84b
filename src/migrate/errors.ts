/** Errors of `mig migrate` at the source (codes in docs/errors.md; the destination's come back as DEST_<code>). */
import { MigError } from '../util/errors.js';

export class MigrateError extends MigError {}
