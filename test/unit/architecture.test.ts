import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => (m[1] ?? m[2])!);
}

/** Pure libraries core may use; everything else (Node I/O, SDKs, adapters) is outside its reach. */
const ALLOWED_PACKAGES = new Set(['zod', 'yaml']);

describe('dependency direction (DESIGN.md §1)', () => {
  const coreDir = join(root, 'core');
  const files = sources(coreDir);

  it('finds the core sources', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files.map((f) => [relative(root, f), f]))(
    '%s imports only core and pure libraries',
    (_name, file) => {
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          expect(relative(coreDir, target).startsWith('..'), `${spec} leaves core/`).toBe(false);
        } else {
          expect(ALLOWED_PACKAGES.has(spec), `core imports "${spec}"`).toBe(true);
        }
      }
    },
  );

  it('adapters never import functions/, local-emulator/ or cli/', () => {
    for (const file of sources(join(root, 'adapters'))) {
      for (const spec of imports(file)) {
        expect(spec, relative(root, file)).not.toMatch(/(^|\/)(functions|local-emulator|cli)\//);
      }
    }
  });
});
