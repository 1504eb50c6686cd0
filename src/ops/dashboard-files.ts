/**
 * The dashboard's static files (plain HTML, JS and CSS: no build step). They live in
 * `src/ops/dashboard/`; compiled code in `dist/src/ops/` finds them there too, so `npm run build`
 * needs no copy step. Files are read once at start and served from memory.
 */
import { promises as fs } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A file ready to serve. */
export interface StaticFile {
  type: string;
  content: Buffer;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** Candidate folders: next to this module (source), or the source tree from `dist/src/ops/`. */
function candidates(): string[] {
  return [new URL('./dashboard/', import.meta.url), new URL('../../../src/ops/dashboard/', import.meta.url)].map((u) => fileURLToPath(u));
}

/** Thrown when the dashboard's files cannot be found. */
export class DashboardMissingError extends Error {
  readonly code = 'DashboardMissing';
  constructor(tried: string[]) {
    super(`the dashboard files are missing (looked in ${tried.join(', ')}); set ops.dashboard to false to run without it`);
    this.name = 'DashboardMissingError';
  }
}

/** Reads the dashboard's files into memory, by file name. */
export async function loadDashboard(): Promise<Map<string, StaticFile>> {
  const tried = candidates();
  for (const dir of tried) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      continue;
    }
    const files = new Map<string, StaticFile>();
    for (const name of names) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      files.set(name, { type, content: await fs.readFile(dir + name) });
    }
    if (files.has('index.html')) return files;
  }
  throw new DashboardMissingError(tried);
}
