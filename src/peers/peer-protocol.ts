import Type, { type Static } from 'typebox';
import { WIRE_FORMATS } from '../config/schema.js';
import { END_REASONS } from '../calls/call-state.js';

/**
 * The unit-to-unit protocol: routes under /api/unit/ that one unit calls on another. Both the
 * routes (src/signaling/unit-routes.ts) and the client (peer-client.ts) use these schemas.
 *
 * Room for authentication: every request names its sender in the SENDER_HEADER and goes through
 * one signing hook in the client and one verification hook on the server, which see the method,
 * path and exact body bytes; an HMAC over those plus a timestamp and nonce fits there unchanged.
 * Room for encrypted media: MediaEndpoint carries an optional `crypto` member.
 */
export const UNIT_API_PREFIX = '/api/unit';
export const SENDER_HEADER = 'x-intercom-unit-id';

export const UnitIdSchema = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' });
export const CallIdSchema = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', description: 'call id' });
export const EndReasonSchema = Type.Enum(END_REASONS);
export const CallPhaseSchema = Type.Union([Type.Literal('ringing'), Type.Literal('active'), Type.Literal('ended')]);

export const MediaEndpointSchema = Type.Object(
  {
    address: Type.String({ maxLength: 64, description: 'where to send RTP; empty or 0.0.0.0 means "the address this message came from"' }),
    udpPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    format: Type.Enum(WIRE_FORMATS),
    ssrc: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    frameMs: Type.Integer({ minimum: 1, maximum: 120, description: 'frame duration in ms' }),
    crypto: Type.Optional(
      Type.Object({ suite: Type.String({ maxLength: 64 }), keyParams: Type.String({ maxLength: 512 }) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const UnitInfoSchema = Type.Object({
  unitId: UnitIdSchema,
  name: Type.String(),
  version: Type.String(),
  httpPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  users: Type.Array(Type.String()),
  inCall: Type.Boolean(),
});
export type UnitInfo = Static<typeof UnitInfoSchema>;

export const CallOfferSchema = Type.Object(
  {
    callId: CallIdSchema,
    caller: Type.Object(
      {
        user: Type.String({ minLength: 1, maxLength: 40 }),
        unitId: UnitIdSchema,
        unitName: Type.String({ maxLength: 63 }),
        httpPort: Type.Integer({ minimum: 1, maximum: 65535 }),
      },
      { additionalProperties: false },
    ),
    callee: Type.Object({ user: Type.String({ minLength: 1, maxLength: 40 }) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type CallOffer = Static<typeof CallOfferSchema>;

export const OfferAnswerSchema = Type.Object({
  result: Type.Union([Type.Literal('ringing'), Type.Literal('busy'), Type.Literal('glare-lost')]),
  /** With glare-lost: the call that survives (the other unit's own call, which it is ringing here). */
  winningCallId: Type.Optional(CallIdSchema),
});
export type OfferAnswer = Static<typeof OfferAnswerSchema>;

export const AcceptRequestSchema = Type.Object({ media: MediaEndpointSchema }, { additionalProperties: false });
export const AcceptAnswerSchema = Type.Object({ media: MediaEndpointSchema });
export type AcceptAnswer = Static<typeof AcceptAnswerSchema>;

export const EndRequestSchema = Type.Object({ reason: EndReasonSchema }, { additionalProperties: false });

export const CallStateAnswerSchema = Type.Object({
  callId: CallIdSchema,
  phase: CallPhaseSchema,
  endReason: Type.Union([EndReasonSchema, Type.Null()]),
});
export type CallStateAnswer = Static<typeof CallStateAnswerSchema>;

export const CallIdParamsSchema = Type.Object({ callId: CallIdSchema });
