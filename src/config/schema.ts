import Type, { type Static } from 'typebox';
import { GpioConfigSchema } from '../gpio/gpio-config.js';
import { MqttConfigSchema } from '../mqtt/mqtt-config.js';

/** Wire formats a unit can send and receive; see src/media/wire-format.ts. */
export const WIRE_FORMATS = ['rtp-opus', 'rtp-l16', 'seed'] as const;
export type WireFormatName = (typeof WIRE_FORMATS)[number];

/**
 * Why a wire format cannot carry frames of `frameMs`, or null if it can. The seed format is the
 * original system's packet, [u16 sequence][960 x i16]: 10 ms frames would make a packet no
 * original unit understands. Shared by the configuration and the command line.
 */
export function wireFormatFrameProblem(format: WireFormatName, frameMs: number): string | null {
  if (format === 'seed' && frameMs !== 20) {
    return 'the seed format is the original packet of 20 ms ([u16 sequence][960 x i16 samples]); use 20 ms frames or an RTP format';
  }
  return null;
}

/** Shortest calls.autoAnswer.delayMs: the auto-answer tone (src/sounds/tone-plan.ts) plays in full before the line opens. */
export const AUTO_ANSWER_MIN_DELAY_MS = 1000;

export const ConfigSchema = Type.Object(
  {
    unit: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 63, description: 'name of this unit, shown to peers' }),
      },
      { additionalProperties: false },
    ),
    http: Type.Object(
      {
        host: Type.String({ minLength: 1, description: 'address the HTTP API listens on' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, description: 'HTTP port (0 picks a free one)' }),
        allowedHosts: Type.Optional(
          Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$' }), {
            maxItems: 64,
            description:
              "names or addresses requests may be addressed to besides the unit's own (its unit name, <name>.local, host name, interface addresses, localhost): a reverse proxy's or a port forward's",
          }),
        ),
        maxConnections: Type.Optional(
          Type.Integer({ minimum: 0, maximum: 65535, description: 'most open HTTP connections; 0: half the open-file limit (LimitNOFILE), at most 4096' }),
        ),
        maxConnectionsPerAddress: Type.Optional(
          Type.Integer({ minimum: 1, maximum: 65535, description: 'most open HTTP connections from one client address' }),
        ),
      },
      { additionalProperties: false },
    ),
    audio: Type.Object(
      {
        udpPort: Type.Integer({ minimum: 0, maximum: 65535, description: 'UDP port for media (0 picks a free one)' }),
        captureDevice: Type.String({ minLength: 1, description: 'ALSA name or case-insensitive substring of the device name' }),
        playbackDevice: Type.String({ minLength: 1, description: 'ALSA name or case-insensitive substring of the device name' }),
        format: Type.Union(WIRE_FORMATS.map((name) => Type.Literal(name)), { description: 'wire format' }),
        frameMs: Type.Union([Type.Literal(10), Type.Literal(20)], { description: 'frame duration in ms' }),
        bitrate: Type.Integer({ minimum: 6000, maximum: 510000, description: 'Opus bitrate in bit/s' }),
        complexity: Type.Integer({ minimum: 0, maximum: 10, description: 'Opus encoder complexity (CPU against quality)' }),
        srtp: Type.Boolean({ description: 'encrypt call audio with SRTP (fresh keys per call); false allows plain RTP, with peers set the same way only' }),
        processing: Type.Object(
          {
            enabled: Type.Boolean({ description: 'hands-free processing of the microphone (false: the microphone is sent as captured)' }),
            echoCancellation: Type.Boolean({ description: 'cancel the echo of the speaker in the microphone' }),
            noiseSuppression: Type.Boolean({ description: 'suppress steady background noise' }),
            gainControl: Type.Boolean({ description: 'bring quiet and loud talkers to the same level' }),
            echoTailMs: Type.Integer({ minimum: 50, maximum: 500, description: 'echo the canceller covers: the speaker-to-microphone delay plus the room\'s reverberation, in ms' }),
          },
          { additionalProperties: false },
        ),
        ringTone: Type.Union([Type.String({ minLength: 2, pattern: '^/', description: 'absolute path of a WAV file' }), Type.Null()], {
          description: 'WAV file the unit rings with (any rate, depth and channel count), or null for the built-in chime',
        }),
        ringVolume: Type.Integer({ minimum: 0, maximum: 100, description: 'loudness of the unit\'s own ring, 0-100' }),
        volume: Type.Integer({
          minimum: 0,
          maximum: 100,
          description: 'speaker volume, 0-100, on the sound card\'s mixer where it has one, else in software; until set from the panel, the API or intercom.txt (then kept in <dataDir>/audio-levels.json)',
        }),
        micGain: Type.Integer({
          minimum: 0,
          maximum: 100,
          description: 'microphone gain, 0-100, on the card\'s capture control where it has one, else in software (50: as captured, 0: -20 dB, 100: +20 dB); kept like audio.volume',
        }),
        backend: Type.Union([Type.Literal('auto'), Type.Literal('alsa'), Type.Literal('naudiodon')], {
          description: 'sound-device layer: auto (the ALSA engine where it is built, else naudiodon), alsa, or naudiodon',
        }),
      },
      { additionalProperties: false },
    ),
    jitter: Type.Object(
      {
        minMs: Type.Integer({ minimum: 0, maximum: 1000, description: 'lowest playout delay in ms' }),
        maxMs: Type.Integer({ minimum: 20, maximum: 2000, description: 'highest playout delay in ms' }),
      },
      { additionalProperties: false },
    ),
    gpio: GpioConfigSchema,
    dataDir: Type.String({ minLength: 1, description: 'directory for persistent state' }),
    calls: Type.Object(
      {
        ringTimeoutMs: Type.Integer({ minimum: 1000, maximum: 600000, description: 'how long a call rings before it ends with ring-timeout' }),
        peerLostMs: Type.Integer({ minimum: 1000, maximum: 60000, description: 'no audio and no signaling from the peer for this long ends an active call with peer-lost' }),
        autoAnswer: Type.Optional(
          Type.Object(
            {
              enabled: Type.Boolean({ description: 'answer calls to this unit by itself (a door station a flat calls to speak to the visitor); never while do-not-disturb is on' }),
              delayMs: Type.Integer({
                minimum: AUTO_ANSWER_MIN_DELAY_MS,
                maximum: 60000,
                description: 'how long a call rings before the unit answers it; the auto-answer tone plays just before',
              }),
            },
            { additionalProperties: false, description: 'auto-answer (absent: off)' },
          ),
        ),
      },
      { additionalProperties: false },
    ),
    peers: Type.Array(
      Type.String({ pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\s]+):[0-9]{1,5}$', description: 'host:port of another unit' }),
      { maxItems: 64, description: 'units to poll over HTTP, for networks where multicast (DNS-SD) does not pass' },
    ),
    discovery: Type.Object(
      {
        dnsSd: Type.Boolean({ description: 'publish and browse _intercom._tcp with DNS-SD' }),
        pollIntervalMs: Type.Integer({
          minimum: 200,
          maximum: 60000,
          description: 'how often an address where no online unit of the site answers (a unit of another site, an offline unit, a unit that cannot be probed) is asked over HTTP again',
        }),
        offlineAfterMs: Type.Integer({ minimum: 500, maximum: 600000, description: 'a unit that is not probed and silent this long is shown offline; a unit\'s address may move once unused this long' }),
        probeIntervalMs: Type.Integer({ minimum: 100, maximum: 60000, description: 'each unit probes one other unit (its successor in the site) this often over UDP; every idle unit sends and receives 4 datagrams per period' }),
        probeTimeoutMs: Type.Integer({ minimum: 20, maximum: 10000, description: 'how long a probe waits for its answer (an indirect probe twice as long)' }),
        indirectProbes: Type.Integer({ minimum: 0, maximum: 10, description: 'how many other units are asked to probe a unit that did not answer before it is declared offline' }),
        probePort: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], {
          description: 'UDP port of the presence prober; null: the HTTP port number (any free port when that is taken; units learn it from the signed info)',
        }),
        requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 30000, description: 'timeout of one unit-to-unit request' }),
      },
      { additionalProperties: false },
    ),
    site: Type.Object(
      {
        secret: Type.Union(
          [Type.String({ minLength: 16, maxLength: 256, pattern: '^\\S+$' }), Type.Null()],
          { description: 'secret shared by every unit of the site (16 to 256 characters, no spaces), or null to use <dataDir>/site-secret (made on first start)' },
        ),
        maxClockSkewMs: Type.Integer({ minimum: 1000, maximum: 600000, description: 'how far a peer\'s clock may differ from this unit\'s before its requests are refused' }),
      },
      { additionalProperties: false },
    ),
    paging: Type.Object(
      {
        multicast: Type.Boolean({
          description: 'send pages to the group address below and listen there for other units\' pages; members that do not hear it within paging.multicastAckMs (or set this false) get the page over unicast SRTP instead',
        }),
        multicastAddress: Type.String({ pattern: '^(22[4-9]|23[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$', description: 'IPv4 multicast group of the site\'s pages (224.0.0.0-239.255.255.255; one for the whole site)' }),
        port: Type.Integer({ minimum: 1, maximum: 65535, description: 'UDP port of that group (the same on every unit)' }),
        multicastAckMs: Type.Integer({ minimum: 100, maximum: 5000, description: 'how long a member has to report hearing a page over multicast before it is sent to it over unicast' }),
      },
      { additionalProperties: false },
    ),
    mqtt: MqttConfigSchema,
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type IntercomConfig = Static<typeof ConfigSchema>;
