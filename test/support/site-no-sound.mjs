// Preloaded into the site test's unit processes (`node --import <this> dist/main.js`): a unit
// without sound devices. Without a sound card a unit retries its devices every 2 s, later every
// 30 s, and each retry starts an audio host process (node + PortAudio, ~0.2 s of CPU): a hundred
// units on one machine would spend cores on that alone and drown the figures the site test is
// after. Here starting the audio host fails at once instead, the way it fails when naudiodon
// cannot start; the unit runs on without sound, as it does then, and retries cost nothing.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const spawn = childProcess.spawn;
childProcess.spawn = function spawnUnlessAudioHost(command, args, ...rest) {
  if (Array.isArray(args) && args.some((arg) => typeof arg === 'string' && /naudiodon-host\.[jt]s$/.test(arg))) {
    throw new Error('this unit runs without sound devices (site test)');
  }
  return spawn.call(this, command, args, ...rest);
};
syncBuiltinESMExports();
