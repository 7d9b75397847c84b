/** Contexts a host offers for migrations: CTX files under <state>/contexts/, known by content digest. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readContextHeader } from '../context/open.js';
import { stateSubdir } from './dir.js';

export interface StoredContext {
  digest: string;
  path: string;
  bytes: number;
}

/** Every readable CTX file in <state>/contexts (unreadable ones are skipped and reported in `bad`). */
export function listContexts(stateDir: string): { contexts: StoredContext[]; bad: { path: string; message: string }[] } {
  const dir = stateSubdir(stateDir, 'contexts');
  const contexts: StoredContext[] = [];
  const bad: { path: string; message: string }[] = [];
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.ctx')) continue;
    const p = path.join(dir, f);
    try {
      const h = readContextHeader(p);
      contexts.push({ digest: h.digest.toString('hex'), path: p, bytes: h.fileSize });
    } catch (e) {
      bad.push({ path: p, message: (e as Error).message });
    }
  }
  return { contexts, bad };
}

export function findContext(stateDir: string, digest: string): StoredContext | undefined {
  return listContexts(stateDir).contexts.find((c) => c.digest === digest);
}
