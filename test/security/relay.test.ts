import test from 'ava';
import { freeTcpPort, launchSite, type UnitProcess } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';
import { relayUdp, startHttpRelay } from './support/relay.js';

// A host on the LAN relays the units' traffic through addresses of its own: to A it poses as B at
// 127.0.0.2, to B as A at 127.0.0.3, each unit lists the relay's address as a peer (as it would
// after a DNS-SD announcement), and the relay answers a little later than the real unit. Before:
// the directory took a unit's address from whichever address answered last, so both units made
// the relay their peer's address and sent their SRTP through it; the relay swallowed A's hang-up
// and B's later probes while relaying B's directory polls, and B kept its microphone streaming to
// the relay for as long as the relay liked. Now a unit accepts only requests sent to its own
// addresses, signed for that address, so the relay cannot answer for it, never becomes anyone's
// address, and sees no media; the hang-up reaches B directly.

const PEER_LOST_MS = 2000;
const CONFIG = { discovery: { pollIntervalMs: 250, offlineAfterMs: 1500, requestTimeoutMs: 3000 }, calls: { peerLostMs: PEER_LOST_MS } };

const phase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';
const addressesSeen = async (unit: UnitProcess) => ((await unit.api('GET', '/api/peers')).body.peers as { name: string; address: string }[]).map((peer) => `${peer.name}@${peer.address}`);

test.serial('a relay between two units never becomes either one\'s address, sees no media, and cannot keep a hung-up call streaming', async (t) => {
  t.timeout(180_000);
  const [portA, portB, relayPortForA, relayPortForB] = await Promise.all([freeTcpPort(), freeTcpPort(), freeTcpPort('127.0.0.3'), freeTcpPort('127.0.0.2')]);
  // Posing as B (to A) at 127.0.0.2, and as A (to B) at 127.0.0.3.
  const relayForB = await startHttpRelay(t, { host: '127.0.0.2', port: relayPortForB, target: { host: '127.0.0.1', port: portB }, fromHost: '127.0.0.3', swallowAfterEnd: true });
  const relayForA = await startHttpRelay(t, { host: '127.0.0.3', port: relayPortForA, target: { host: '127.0.0.1', port: portA }, fromHost: '127.0.0.2', swallowAfterEnd: true });
  const [a, b] = await launchSite(t, [
    { name: 'A', httpPort: portA, peers: [relayForB.address], config: CONFIG, readyTimeoutMs: 90_000 },
    { name: 'B', httpPort: portB, peers: [relayForA.address], config: CONFIG, readyTimeoutMs: 90_000 },
  ]);
  // Media sent to the relay's addresses goes on to the real unit, as a man in the middle would pass it.
  const mediaViaRelayToB = await relayUdp(t, { host: '127.0.0.2', port: b.udpPort, target: { host: '127.0.0.1', port: b.udpPort }, fromHost: '127.0.0.3' });
  const mediaViaRelayToA = await relayUdp(t, { host: '127.0.0.3', port: a.udpPort, target: { host: '127.0.0.1', port: a.udpPort }, fromHost: '127.0.0.2' });

  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  const sees = async (unit: UnitProcess, name: string) => ((await unit.api('GET', '/api/users')).body.users as { name: string; online: boolean }[]).some((user) => user.name === name && user.online);
  await eventually('A and B to see each other', async () => (await sees(a, 'Front door')) && (await sees(b, 'Kitchen')));

  // Three seconds of polls through both the direct and the relayed address.
  const seen = new Set<string>();
  for (let round = 0; round < 12; round += 1) {
    for (const entry of [...(await addressesSeen(a)), ...(await addressesSeen(b))]) seen.add(entry);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  t.log(`peer addresses seen: ${[...seen].join(', ')}; relayed ${relayForA.relayed.length + relayForB.relayed.length} requests (${[...new Set([...relayForA.relayed, ...relayForB.relayed].map((line) => line.split(' -> ')[1]))].join(', ')})`);
  t.deepEqual([...seen].sort(), [`A@127.0.0.1:${portA}`, `B@127.0.0.1:${portB}`], "each unit's address is only ever its own");

  const initiated = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  const callId: string = initiated.body.call.id;
  await eventually('B to ring', async () => (await phase(b)) === 'ringing');
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('both active', async () => (await phase(a)) === 'active' && (await phase(b)) === 'active');
  await eventually('media both ways', async () => {
    const [onA, onB] = await Promise.all([a, b].map(async (unit) => (await unit.api('GET', '/api/calls')).body.current?.stats?.packetsReceived ?? 0));
    return onA > 50 && onB > 50;
  });

  // A hangs up. B must stop: at once when the hang-up reaches it, and within peerLostMs + 1 s however it goes.
  const hungUpAt = Date.now();
  t.is((await a.api('POST', '/api/signal/end', { callId })).status, 200);
  const endedOnB = await eventually('B to end the call', async () => (await phase(b)) === 'idle' && Date.now(), PEER_LOST_MS + 10_000);
  const streamingAfterHangUp = mediaViaRelayToA.arrivals.filter((at) => at > hungUpAt + 1000).length;
  t.log(
    `B ended ${endedOnB - hungUpAt} ms after the hang-up (${(await b.api('GET', `/api/calls/${callId}`)).body.call.endReason}); ` +
      `media through the relay: ${mediaViaRelayToB.arrivals.length} to B, ${mediaViaRelayToA.arrivals.length} to A (${streamingAfterHangUp} more than 1 s after the hang-up); ` +
      `swallowed: ${[...relayForA.swallowed, ...relayForB.swallowed].join(', ') || 'nothing'}`,
  );
  t.true(endedOnB - hungUpAt <= PEER_LOST_MS + 1000, `B stopped ${endedOnB - hungUpAt} ms after A hung up`);
  t.like((await b.api('GET', `/api/calls/${callId}`)).body.call, { phase: 'ended', endReason: 'hung-up' });
  t.is(streamingAfterHangUp, 0, "B's microphone did not stream to the relay after the hang-up");
  t.is(mediaViaRelayToA.arrivals.length + mediaViaRelayToB.arrivals.length, 0, 'no media went through the relay at all');
});
