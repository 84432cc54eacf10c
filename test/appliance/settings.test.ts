import test from 'ava';
import { pbkdf2Sync } from 'node:crypto';
// @ts-expect-error: a plain ES module shipped in the image, without type declarations
import { hostnameFor, parseSettings, settingsToConfig, wpaSupplicantConfig } from '../../image/overlay/usr/lib/intercom-image/settings.mjs';

const shippedDefaults = {
  unit: { name: 'intercom' },
  audio: { captureDevice: 'default', playbackDevice: 'default', udpPort: 40000 },
  gpio: { enabled: true, callButton: 5, answerButton: 6, ringLed: 13, doorRelay: null, activeLow: true },
};
const withSite = { ...shippedDefaults, site: { secret: null } };

test('key=value lines, whole-line comments, values that hold # and =', (t) => {
  const { values, problems } = parseSettings(
    '\uFEFF# comment\r\nunit_name = Front Door \r\nwifi_password=a#b=c\nssh_key=\n\nsite_secret=s3cret\n',
  );
  t.deepEqual([...values.entries()], [['unit_name', 'Front Door'], ['wifi_password', 'a#b=c'], ['site_secret', 's3cret']]);
  t.deepEqual(problems, []);
});

test('unknown keys and lines without = are reported, not applied', (t) => {
  const { values, problems } = parseSettings('colour=blue\njust words\nunit_name=x\n');
  t.deepEqual([...values.keys()], ['unit_name']);
  t.is(problems.length, 2);
  t.regex(problems[0], /line 1: unknown setting "colour"/);
  t.regex(problems[1], /line 2: expected key=value/);
});

test('settings become typed service configuration for the keys this version knows', (t) => {
  const { values } = parseSettings('unit_name=Front Door\nsound_device=plughw:CARD=Device\ngpio_call=17\ngpio_door=22\ngpio_active_low=no\nsite_secret=abcdefghijklmnopq\n');
  const { config, problems } = settingsToConfig(values, shippedDefaults);
  t.deepEqual(config, {
    unit: { name: 'Front Door' },
    audio: { captureDevice: 'plughw:CARD=Device', playbackDevice: 'plughw:CARD=Device' },
    gpio: { callButton: 17, doorRelay: 22, activeLow: false },
  });
  // The defaults above have no site section: the secret is reported, not written where it would be rejected.
  t.deepEqual(problems, ['site_secret: this version of the intercom has no setting site.secret; ignored']);
});

test('a pin that is not a number is a problem, not a config value', (t) => {
  const { config, problems } = settingsToConfig(new Map([['gpio_call', 'seventeen']]), shippedDefaults);
  t.deepEqual(config, {});
  t.deepEqual(problems, ['gpio_call: "seventeen" is not a BCM pin number (0 to 57)']);
});

test('the site secret stays text, and one the service would refuse is reported instead of written', (t) => {
  t.deepEqual(settingsToConfig(new Map([['site_secret', '1234567890123456']]), withSite), { config: { site: { secret: '1234567890123456' } }, problems: [] });
  const { config, problems } = settingsToConfig(new Map([['site_secret', 'too short']]), withSite);
  t.deepEqual(config, {});
  t.deepEqual(problems, ['site_secret: must be 16 to 256 characters without spaces']);
  t.deepEqual(settingsToConfig(new Map([['gpio_door', 'none']]), shippedDefaults).config, { gpio: { doorRelay: null } });
});

test('unit names become valid hostnames', (t) => {
  t.is(hostnameFor('Front Door'), 'front-door');
  t.is(hostnameFor('Küche / Hof #2'), 'kuche-hof-2');
  t.is(hostnameFor('---'), 'intercom');
  t.is(hostnameFor('x'.repeat(80)).length, 63);
});

test('Wi-Fi settings need no quoting: hex SSID and the derived PSK', (t) => {
  const config = wpaSupplicantConfig({ ssid: 'My "home" net', password: 'pa ss"word#1', country: 'de' });
  t.regex(config, /^country=DE$/m);
  t.regex(config, new RegExp(`^\\tssid=${Buffer.from('My "home" net').toString('hex')}$`, 'm'));
  t.regex(config, new RegExp(`^\\tpsk=${pbkdf2Sync('pa ss"word#1', 'My "home" net', 4096, 32, 'sha1').toString('hex')}$`, 'm'));
  t.regex(wpaSupplicantConfig({ ssid: 'open' }), /key_mgmt=NONE/);
  t.throws(() => wpaSupplicantConfig({ ssid: 'x', password: 'short' }), { message: /8 to 63/ });
});
