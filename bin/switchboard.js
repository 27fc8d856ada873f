#!/usr/bin/env node
// The npx entry point. Node 24 (from the `node` devDependency) runs the TypeScript sources directly.
import { main } from '../src/cli.ts';

process.exit(await main(process.argv.slice(2)));
