import test from 'ava';
import { HostPolicy, hostLabelFor, hostOfHeader } from '../../src/security/host-check.js';

test('the host part of a Host header: ports, IPv6 brackets, zones, case and a trailing dot; garbage is none', (t) => {
  t.is(hostOfHeader('Front-Door.local:5000'), 'front-door.local');
  t.is(hostOfHeader('front-door.local.'), 'front-door.local');
  t.is(hostOfHeader('10.0.0.5'), '10.0.0.5');
  t.is(hostOfHeader('[FE80::1%25eth0]:5000'), 'fe80::1');
  t.is(hostOfHeader('[fd00::5]'), 'fd00::5');
  for (const bad of [undefined, '', ':5000', 'fd00::5:5000', '[fd00::5', '[fd00::5]x', 'host:port']) t.is(hostOfHeader(bad), null, String(bad));
  t.is(hostLabelFor('Küche / Hof #2'), 'kuche-hof-2');
});

test("a unit answers to its own names and addresses, and to http.allowedHosts; to nothing else", (t) => {
  let addresses = ['127.0.0.1', '::1', '10.0.0.5', 'fe80::1%eth0'];
  let now = 0;
  const policy = new HostPolicy({ unitName: 'Front Door', allowedHosts: ['intercom.example.org', '[fd00::9]:8443'], hostname: () => 'pi-1234', interfaceAddresses: () => addresses, now: () => now });
  for (const host of ['localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'front-door:5000', 'FRONT-DOOR.local', 'pi-1234', 'pi-1234.local:5000', '10.0.0.5:5000', '[fe80::1]:5000', 'intercom.example.org', '[fd00::9]']) {
    t.true(policy.allows(host), host);
  }
  for (const host of ['evil.example:5000', 'front-door.evil.example', '10.0.0.6:5000', '127.0.0.2:5000', 'localhost.evil.example', undefined, '']) {
    t.false(policy.allows(host), String(host));
  }
  // A new DHCP lease: the new address is the unit's once the interfaces are read again.
  addresses = ['127.0.0.1', '10.0.0.6'];
  t.false(policy.allows('10.0.0.6'), 'not before the interfaces are read again');
  now += 5000;
  t.true(policy.allows('10.0.0.6'));
  t.false(policy.allows('10.0.0.5'));
});
