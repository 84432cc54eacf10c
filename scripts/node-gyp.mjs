// Runs node-gyp for the native build scripts, offline: npm bundles node-gyp (on PATH only inside
// npm scripts, so it is found beside npm here), and the running Node's own headers are used
// (Debian's nodejs installs them), because a unit may have no internet to download them.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

function nodeGypScript() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  ].filter(Boolean);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error('node-gyp not found: install npm (which bundles it) or the node-gyp package');
  return found;
}

function nodeDirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/** `node-gyp rebuild` in `directory`; progress goes to stderr (stdout may be someone's data). */
export function nodeGypRebuild(directory, env = process.env) {
  execFileSync(process.execPath, [nodeGypScript(), 'rebuild', ...nodeDirArgs()], { cwd: directory, stdio: ['ignore', 2, 'inherit'], env });
}
