// Runs the browser tests with node's test runner and prints a final "browser: N passed, M failed".
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = spawn(process.execPath, ['--test', '--test-reporter=tap', '--test-concurrency=1', path.join(here, 'dashboards.test.mjs')], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
child.on('close', (code) => {
  const num = (label) => { const m = out.match(new RegExp(`^# ${label} (\\d+)$`, 'm')); return m ? Number(m[1]) : null; };
  let passed = num('pass') ?? 0;
  let failed = num('fail') ?? 0;
  if (code !== 0 && failed === 0) failed = 1; // crashed before reporting
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
});
