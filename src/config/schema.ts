import Type, { type Static } from 'typebox';

/** Wire formats a unit can send and receive; see src/media/wire-format.ts. */
export const WIRE_FORMATS = ['rtp-opus', 'rtp-l16', 'seed'] as const;
export type WireFormatName = (typeof WIRE_FORMATS)[number];


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
    dataDir: Type.String({ minLength: 1, description: 'directory for persistent state' }),
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
