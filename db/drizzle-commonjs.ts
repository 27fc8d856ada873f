/**
 * Loads drizzle-orm's CommonJS build instead of its ESM build. Node 24 reads a package's package.json again, and
 * parses its `exports` again, for every module of the package it loads as ESM; drizzle-orm's is 180 KB and its ESM
 * build about a hundred modules, so importing it cost about 0.35 s of CPU and left some 200 MB of garbage that
 * stays as RSS. Its CommonJS build loads the same code with none of that. Every drizzle-orm import goes to the
 * CommonJS build (no second copy, whose classes `is()` would not recognise). bin/switchboard.js installs this before
 * anything imports drizzle-orm; vitest.config.ts resolves drizzle-orm the same way.
 */
import { registerHooks } from 'node:module';

const DRIZZLE = /^drizzle-orm(\/|$)/;

export function loadDrizzleAsCommonJs(): void {
  registerHooks({
    resolve(specifier, context, next) {
      return DRIZZLE.test(specifier) ? next(specifier, { ...context, conditions: ['node', 'require'] }) : next(specifier, context);
    },
  });
}
