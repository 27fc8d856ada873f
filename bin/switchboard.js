#!/usr/bin/env node
// The npx entry point. The TypeScript sources run on Node 24 (type stripping), which the `node` devDependency
// brings: started by an older global Node (20, 22), it hands over to that bundled Node, passing on arguments,
// stdio, signals and the exit code. package.json's `engines` says >=20 so npm accepts the older Node quietly.
import { spawn } from 'node:child_process';
import module, { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REQUIRED_MAJOR = 24;

if (Number(process.versions.node.split('.')[0]) >= REQUIRED_MAJOR) {
  // V8's compiled code for our modules and dependencies, kept on disk (the OS temp directory): later starts skip
  // compiling several hundred modules. Before the import, so the CLI's whole module graph is cached.
  module.enableCompileCache();
  const { loadDrizzleAsCommonJs } = await import('../db/drizzle-commonjs.ts');
  loadDrizzleAsCommonJs();
  const { main } = await import('../src/cli.ts');
  process.exit(await main(process.argv.slice(2)));
}

let bundled;
try {
  bundled = join(dirname(createRequire(import.meta.url).resolve('node/package.json')), 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
} catch {
  console.error(
    `Switchboard needs Node ${REQUIRED_MAJOR}, and this is Node ${process.versions.node}. Run \`npm ci\` in the project to install its bundled Node ${REQUIRED_MAJOR}, or install Node ${REQUIRED_MAJOR}.`,
  );
  process.exit(1);
}
const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (err) => {
  console.error(`Could not start the bundled Node ${REQUIRED_MAJOR} (${bundled}): ${err.message}. Run \`npm ci\` in the project.`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0)));
