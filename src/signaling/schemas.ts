import { GpioStatusSchema } from '../gpio/gpio-status.js';
import Type, { type Static, type TSchema } from 'typebox';
import { CallIdSchema, CallPhaseSchema, EndReasonSchema, UnitIdSchema } from '../peers/peer-protocol.js';
import { USER_NAME_PATTERN } from '../users/user-store.js';
import { REJECTION_REASONS, type RejectionReason } from '../security/peer-auth.js';
import { DoNotDisturbStatusSchema } from '../calls/do-not-disturb.js';
import { AudioLevelsStatusSchema } from '../audio/audio-levels.js';
import { StoredSelfTestSchema } from '../selftest/unit-selftest.js';
import { MqttStatusSchema } from '../mqtt/mqtt-status.js';

/**
 * Schemas of the public HTTP API: they validate requests, type the handlers and generate the
 * OpenAPI document, so the three never disagree.
 */

export const UserNameSchema = Type.String({ minLength: 1, maxLength: 40, pattern: USER_NAME_PATTERN, description: 'user (room or person) name' });

export const ErrorSchema = Type.Object({
  error: Type.String({ description: 'machine-readable reason, e.g. unknown-user, busy, bad-request' }),
  message: Type.String({ description: 'what was wrong, for people' }),
});

/**
 * A schema as the answer for one status code: `description` is what the OpenAPI document says
 * about that answer. A copy, so one shared schema can be described differently on each code.
 */
export function described<Schema extends TSchema>(schema: Schema, description: string): Schema {
  return { ...schema, description };
}

/** An error answer: the shared error body, described for the status code it is documented under. */
export function errorAnswer(description: string, body: TSchema = ErrorSchema): TSchema {
  return described(body, description);
}

/** A route's answers by status code, as its `schema.response` lists them. */
export type Answers = Record<string, TSchema>;

/**
 * `answers` with `extra` added: a code both list keeps the route's own body schema (it is the more
 * specific one), described with both descriptions. Adding the same answers twice changes nothing.
 */
export function withAnswers(answers: unknown, extra: Answers): Answers {
  const merged: Record<string, TSchema & { description?: string }> = { ...((answers ?? {}) as Answers) };
  for (const [code, schema] of Object.entries(extra)) {
    const own = merged[code];
    if (!own) {
      merged[code] = schema;
      continue;
    }
    const lines = (own.description ?? '').split('\n').filter((line: string) => line !== '');
    const more = ((schema as { description?: string }).description ?? '').split('\n').filter((line: string) => line !== '' && !lines.includes(line));
    if (more.length > 0) merged[code] = described(own, [...lines, ...more].join('\n'));
  }
  return merged;
}

/** Answers of routes that write the data directory (the user store), from the app's error handler. */
export const STORAGE_ANSWERS: Answers = {
  507: errorAnswer("storage-full: the unit's data disk is full; nothing was changed"),
  503: errorAnswer('storage-unavailable: the unit cannot write its data directory (read-only or no permission); nothing was changed'),
};

export const CallMediaStatsSchema = Type.Object({
  currentDelayMs: Type.Number(),
  targetDelayMs: Type.Number(),
  jitterMs: Type.Number(),
  packetsSent: Type.Number(),
  packetsReceived: Type.Number(),
  packetsLost: Type.Number(),
  packetsLate: Type.Number(),
  packetsDuplicated: Type.Number(),
  packetsReordered: Type.Number(),
  packetsMalformed: Type.Number(),
  concealedMs: Type.Number(),
  timeScaledMs: Type.Number(),
  underruns: Type.Number(),
  driftPpm: Type.Number(),
  msSinceLastPacket: Type.Union([Type.Number(), Type.Null()]),
});

const PartySchema = Type.Object({ user: Type.String(), unitId: Type.String(), unitName: Type.String() });

export const CallSchema = Type.Object({
  id: CallIdSchema,
  direction: Type.Enum(['outgoing', 'incoming']),
  phase: CallPhaseSchema,
  endReason: Type.Union([EndReasonSchema, Type.Null()]),
  caller: PartySchema,
  callee: PartySchema,
  createdAt: Type.String({ description: 'ISO 8601' }),
  ringingMs: Type.Integer(),
  activeMs: Type.Union([Type.Integer(), Type.Null()]),
  supersededBy: Type.Union([CallIdSchema, Type.Null()], { description: 'the call that replaced this one when both units called each other at once' }),
  group: Type.Union([Type.String(), Type.Null()], {
    description: "the call group this call was placed to: every member's unit rang, the first to answer became the callee (until then the callee is the group, with an empty unitId)",
  }),
  stats: Type.Union([CallMediaStatsSchema, Type.Null()]),
});

export const CallResponseSchema = Type.Object({ call: CallSchema });
export const CallErrorSchema = Type.Object({
  error: Type.String(),
  message: Type.String(),
  call: Type.Optional(CallSchema),
});

export const DirectoryEntrySchema = Type.Object({
  name: Type.String(),
  unitId: Type.String(),
  unitName: Type.String(),
  local: Type.Boolean({ description: 'hosted by this unit' }),
  online: Type.Boolean(),
});

export const PeerSchema = Type.Object({
  unitId: UnitIdSchema,
  name: Type.String(),
  version: Type.String(),
  address: Type.String({ description: 'host:port this unit talks to it at (changed only by its own signed answer there)' }),
  online: Type.Boolean(),
  inCall: Type.Boolean(),
  users: Type.Array(Type.String()),
  source: Type.Enum(['dns-sd', 'static', 'inbound', 'site'], { description: 'how it was found: DNS-SD, the static peers list, it spoke to this unit (a call, a push, a join), or another unit of the site named it' }),
  msSinceSeen: Type.Union([Type.Integer(), Type.Null()]),
  clockOffsetMs: Type.Union([Type.Integer(), Type.Null()], { description: "how far its wall clock is ahead of this unit's, learnt from its signed answers (null: not known)" }),
});

export const RegisterBodySchema = Type.Object({ name: UserNameSchema });
export const RegisterResponseSchema = Type.Object({ user: DirectoryEntrySchema, created: Type.Boolean() });
export const InitiateBodySchema = Type.Object({
  from: Type.String({ minLength: 1, maxLength: 40, description: 'calling user, hosted by this unit' }),
  to: Type.String({ minLength: 1, maxLength: 40, description: 'called user, anywhere in the site' }),
});
export const CallIdBodySchema = Type.Object({ callId: CallIdSchema });
export const IncomingQuerySchema = Type.Object({ user: Type.String({ minLength: 1, maxLength: 40 }) });

export const SystemFiguresSchema = Type.Object({
  cpuLoadPercent: Type.Union([Type.Number(), Type.Null()]),
  loadAverage: Type.Array(Type.Number()),
  temperatureC: Type.Union([Type.Number(), Type.Null()]),
  memory: Type.Union([
    Type.Object({ totalBytes: Type.Number(), availableBytes: Type.Number(), usedPercent: Type.Number() }),
    Type.Null(),
  ]),
  eventLoopDelayMs: Type.Union([Type.Object({ p99: Type.Number(), max: Type.Number() }), Type.Null()], {
    description: 'how late the event loop (which also moves the audio) ran over the last sampling interval',
  }),
});

export const PeerRequestsStatusSchema = Type.Object(
  {
    secretSource: Type.Union([Type.Literal('config'), Type.Literal('config-replaced'), Type.Literal('file'), Type.Literal('generated')], {
      description: 'where the site secret came from: site.secret, its replacement made on the unit (joined, left, rotated: <dataDir>/site-secret-replaced), <dataDir>/site-secret, or made at first start',
    }),
    maxClockSkewMs: Type.Integer(),
    accepted: Type.Integer({ description: 'unit-to-unit requests with a valid signature' }),
    rejected: Type.Integer({ description: 'unit-to-unit requests answered 401' }),
    protocolVersion: Type.Integer({ description: 'the unit-to-unit protocol version this unit speaks' }),
    rejectedByReason: Type.Object(Object.fromEntries(REJECTION_REASONS.map((reason) => [reason, Type.Integer()])) as Record<RejectionReason, ReturnType<typeof Type.Integer>>),
  },
  { description: 'authentication of requests from other units with the site secret' },
);

export const PeopleAccessStatusSchema = Type.Object(
  {
    passwordSet: Type.Boolean({ description: 'a panel password is set (without one nobody can log in)' }),
    sessions: Type.Integer({ description: 'live login sessions' }),
    loginsSucceeded: Type.Integer(),
    loginsFailed: Type.Integer({ description: 'logins with a wrong password' }),
    loginsRateLimited: Type.Integer({ description: 'logins refused with 429 after too many wrong passwords' }),
  },
  { description: "people's login to the panel and the API" },
);

export const SecurityStatusSchema = Type.Object({
  peerRequests: Type.Union([PeerRequestsStatusSchema, Type.Null()], { description: 'null when this unit does not authenticate unit-to-unit requests' }),
  people: Type.Optional(PeopleAccessStatusSchema),
});
export type SecurityStatus = Static<typeof SecurityStatusSchema>;

export const StatusSchema = Type.Object({
  unit: Type.Object({ id: Type.String(), name: Type.String(), version: Type.String() }),
  uptimeS: Type.Integer(),
  audio: Type.Object({
    available: Type.Boolean({ description: 'capture and playback devices are open' }),
    captureDevice: Type.Union([Type.String(), Type.Null()], { description: 'the capture device in use' }),
    playbackDevice: Type.Union([Type.String(), Type.Null()], { description: 'the playback device in use' }),
    error: Type.Union([Type.String(), Type.Null()], { description: 'why audio is unavailable' }),
    encrypted: Type.Boolean({ description: 'call audio is encrypted with SRTP; false only when audio.srtp is false (plain RTP)' }),
    processing: Type.Optional(
      Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
        description: "the capture processing's figures: echo return loss enhancement (erleDb), converged, the echo delay found, gain; null when audio.processing is off",
      }),
    ),
  }),
  call: Type.Union([CallSchema, Type.Null()], { description: 'the live call with its audio statistics' }),
  users: Type.Array(Type.String(), { description: 'users hosted by this unit' }),
  peers: Type.Object({ known: Type.Integer(), online: Type.Integer() }),
  system: SystemFiguresSchema,
  gpio: Type.Union([GpioStatusSchema, Type.Null()], { description: 'buttons, ring LED and door relay, or null when not set up' }),
  security: SecurityStatusSchema,
  doNotDisturb: DoNotDisturbStatusSchema,
  autoAnswer: Type.Union([Type.Object({ delayMs: Type.Integer({ description: 'a call rings this long, then the unit answers it (after its tone)' }) }), Type.Null()], {
    description: 'calls.autoAnswer when it is on (a door station), or null: calls ring until a person answers',
  }),
  mqtt: MqttStatusSchema,
  levels: Type.Optional(AudioLevelsStatusSchema),
  selfTest: Type.Optional(Type.Union([StoredSelfTestSchema, Type.Null()], { description: 'the last acoustic self-test (POST /api/selftest), null: never run' })),
});
export type StatusReport = Static<typeof StatusSchema>;

export const DoorOpenResponseSchema = Type.Object({ ok: Type.Literal(true), pulseMs: Type.Integer() });

/** The other unit of a call opened its door. */
export const PeerDoorOpenResponseSchema = Type.Object({
  ok: Type.Literal(true),
  callId: Type.String(),
  unitId: Type.String({ description: 'the unit whose door opened' }),
  unitName: Type.String(),
  pulseMs: Type.Integer({ description: 'how long its relay stays on' }),
});

export const HealthSchema = Type.Object({
  ok: Type.Boolean(),
  unitId: Type.String(),
  name: Type.String(),
  version: Type.String(),
  uptimeS: Type.Integer(),
});
