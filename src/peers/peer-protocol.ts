import Type, { type Static } from 'typebox';
import { WIRE_FORMATS } from '../config/schema.js';
import { END_REASONS } from '../calls/call-state.js';
import { GroupRecordSchema } from '../groups/group-store.js';

/**
 * The unit-to-unit protocol, version 2: routes under /api/unit/ that one unit calls on another.
 * Both the routes (src/signaling/unit-routes.ts) and the client (peer-client.ts) use these schemas.
 *
 * Every request names its sender (SENDER_HEADER) and its receiver (RECEIVER_HEADER: the unit id it
 * is meant for, or ANY_RECEIVER on the discovery poll GET /info, whose answerer is not known yet);
 * every answer names the unit that gave it. src/security/peer-auth.ts signs and checks all of it.
 * Call audio is keyed with an ephemeral X25519 exchange inside these messages
 * (src/security/call-key-exchange.ts): the caller's public value travels in the offer, the
 * callee's in the accept request, and each side's SRTP keys only wrapped under the shared key.
 */
export const UNIT_API_PREFIX = '/api/unit';
export const UNIT_PROTOCOL_VERSION = 2;
export const SENDER_HEADER = 'x-intercom-unit-id';
export const RECEIVER_HEADER = 'x-intercom-to';
/** The receiver of a discovery poll: whichever unit answers at the address polled. */
export const ANY_RECEIVER = '*';
/** The only request that may be addressed to ANY_RECEIVER. */
export const DISCOVERY_PATH = `${UNIT_API_PREFIX}/info`;

export const UnitIdSchema = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' });
export const CallIdSchema = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', description: 'call id' });
export const EndReasonSchema = Type.Enum(END_REASONS);
export const CallPhaseSchema = Type.Union([Type.Literal('ringing'), Type.Literal('active'), Type.Literal('ended')]);

/** An X25519 public value: 32 bytes, base64url without padding. */
export const KeyShareSchema = Type.String({ minLength: 43, maxLength: 43, pattern: '^[A-Za-z0-9_-]{43}$', description: 'ephemeral X25519 public value, base64url' });
/** A sender's SRTP master key and salt, sealed (AES-256-GCM) under the call's key-exchange key. */
export const WrappedKeySchema = Type.String({ minLength: 16, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$', description: 'sealed SRTP keys, base64url' });

/** What one side of a call tells the other about its audio: where it receives, in what, and its SRTP keys. */
export const WireMediaSchema = Type.Object(
  {
    udpPort: Type.Integer({ minimum: 1, maximum: 65535, description: 'UDP port at the host this unit is reached at for signaling' }),
    format: Type.Enum(WIRE_FORMATS),
    ssrc: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    frameMs: Type.Integer({ minimum: 1, maximum: 120, description: 'frame duration in ms' }),
    srtp: Type.Optional(
      Type.Object(
        {
          suite: Type.String({ maxLength: 64 }),
          /** The sender's own public value (the callee's, in the accept request; the caller's came with the offer). */
          keyShare: Type.Optional(KeyShareSchema),
          wrappedKey: WrappedKeySchema,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type WireMedia = Static<typeof WireMediaSchema>;

export const UnitInfoSchema = Type.Object({
  unitId: UnitIdSchema,
  name: Type.String(),
  version: Type.String(),
  httpPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  users: Type.Array(Type.String()),
  inCall: Type.Boolean(),
  /** The UDP port of its presence prober (absent: it cannot be probed, and is polled). */
  probePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  /** "epoch.counter": moves whenever its name, users or in-call state change (see src/peers/presence-service.ts). */
  stateVersion: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}\\.[0-9]{1,16}$' })),
  /** A digest of the call groups it holds (GroupStore.digest): units with the same one need not exchange them. */
  groups: Type.Optional(Type.String({ pattern: '^[0-9a-f]{16}$' })),
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
    /** The caller's ephemeral X25519 public value; absent when the caller sends plain RTP (audio.srtp false). */
    keyShare: Type.Optional(KeyShareSchema),
    /** The call group this offer is one of (every member's unit rings; the first to answer gets the call). */
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
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

export const AcceptRequestSchema = Type.Object({ media: WireMediaSchema }, { additionalProperties: false });
export const AcceptAnswerSchema = Type.Object({ media: WireMediaSchema });
export type AcceptAnswer = Static<typeof AcceptAnswerSchema>;

export const EndRequestSchema = Type.Object({ reason: EndReasonSchema }, { additionalProperties: false });

export const CallStateAnswerSchema = Type.Object({
  callId: CallIdSchema,
  phase: CallPhaseSchema,
  endReason: Type.Union([EndReasonSchema, Type.Null()]),
});
export type CallStateAnswer = Static<typeof CallStateAnswerSchema>;

export const CallIdParamsSchema = Type.Object({ callId: CallIdSchema });

/**
 * POST /calls/:callId/open-door: the unit on the other end of an active call asks this one to
 * pulse its door relay (the person inside lets the visitor in). No body: the signature names the
 * sender, and only the unit in that call with this one is obeyed.
 */
export const DoorOpenedAnswerSchema = Type.Object({
  /** How long the relay stays on. */
  pulseMs: Type.Integer({ minimum: 1 }),
});
export type DoorOpenedAnswer = Static<typeof DoorOpenedAnswerSchema>;

/** Group exchange (POST /groups): the sender's versions of the site's groups; the answer is the receiver's, after taking the newer ones. */
export const GroupSyncSchema = Type.Object({ groups: Type.Array(GroupRecordSchema, { maxItems: 1000 }) }, { additionalProperties: false });
export type GroupSync = Static<typeof GroupSyncSchema>;

/**
 * Rotating the site's secret when a unit is removed (src/security/secret-rotation.ts): the rotating
 * unit asks each unit that stays for a fresh X25519 public value (POST /site/rotation), then sends
 * the new secret sealed under the derived key (POST /site/rotation/commit); the answer proves the
 * receiver opened it. Both signed with the old secret; the new one never travels readable by it.
 */
export const RotationIdSchema = Type.String({ pattern: '^[A-Za-z0-9_-]{22}$', description: 'rotation id: 16 random bytes, base64url' });
const RotatedUnitSchema = Type.Object({ unitId: UnitIdSchema, name: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const RotationOfferSchema = Type.Object(
  {
    rotationId: RotationIdSchema,
    keyShare: KeyShareSchema,
    /** The unit removed from the site (never the receiver). */
    removed: RotatedUnitSchema,
  },
  { additionalProperties: false },
);
export type RotationOffer = Static<typeof RotationOfferSchema>;

export const RotationOfferAnswerSchema = Type.Object({ rotationId: RotationIdSchema, keyShare: KeyShareSchema });
export type RotationOfferAnswer = Static<typeof RotationOfferAnswerSchema>;

export const RotationCommitSchema = Type.Object(
  {
    rotationId: RotationIdSchema,
    /** The new secret, AES-256-GCM under the handover's key: base64url. */
    sealed: Type.String({ minLength: 16, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$' }),
    removed: RotatedUnitSchema,
    /** Units of the site the rotating unit could not reach: they keep the old secret and must join again. */
    needsRejoining: Type.Array(RotatedUnitSchema, { maxItems: 256 }),
  },
  { additionalProperties: false },
);
export type RotationCommit = Static<typeof RotationCommitSchema>;

export const RotationCommitAnswerSchema = Type.Object({ rotationId: RotationIdSchema, confirmation: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }) });
export type RotationCommitAnswer = Static<typeof RotationCommitAnswerSchema>;

/**
 * Where a unit of the site is reached (its HTTP API), as another unit reaches it. An announcement
 * can be lost both ways (a unit that never heard of a new one, which never heard of it either);
 * two units comparing views pass these on, and the receiver asks the address itself, signed,
 * before it believes anything of the unit.
 */
export const UnitAddressSchema = Type.Object(
  { unitId: UnitIdSchema, host: Type.String({ minLength: 1, maxLength: 253 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) },
  { additionalProperties: false },
);
export type UnitAddress = Static<typeof UnitAddressSchema>;

/** What a unit's probing found about another: gone (`online` false), or back. */
export const SeenWordSchema = Type.Object({ unitId: UnitIdSchema, online: Type.Boolean() }, { additionalProperties: false });

/**
 * POST /presence: a unit tells the site's units about a change. `info`: its own new info (its users
 * or state changed, or it just found the receiver, then with `online`). `seen`: what its probing found about a unit it
 * watches (gone, or back); the receiver checks that for itself, except a unit's word about itself
 * (it is leaving), which is taken as said.
 */
export const PresencePushSchema = Type.Object(
  {
    info: Type.Optional(UnitInfoSchema),
    seen: Type.Optional(SeenWordSchema),
    /** Words about other units (`seen`) that earlier pushes did not deliver, said again together. */
    words: Type.Optional(Type.Array(SeenWordSchema, { maxItems: 256 })),
    /**
     * With the info a unit sends a unit it has just found online (new, or back): the units it sees
     * online. A unit back from being cut off had found the whole site gone; it checks these with
     * its own probes rather than waiting for each to come round in its watch.
     */
    online: Type.Optional(Type.Array(UnitIdSchema, { maxItems: 1024 })),
    /**
     * With `online`: the sender's probes of this unit have long carried a view of the site other
     * than this unit's (a unit gone that one of them missed hearing of). The receiver checks the
     * units the two see differently with its own probes, and answers with the units it sees online,
     * so that the sender does the same.
     */
    sync: Type.Optional(Type.Boolean()),
    /** With `sync`: where the sender reaches the units in `online`, so that one the receiver never heard of is found. */
    where: Type.Optional(Type.Array(UnitAddressSchema, { maxItems: 1024 })),
  },
  { additionalProperties: false },
);
export type PresencePush = Static<typeof PresencePushSchema>;
export const PresenceAnswerSchema = Type.Object({
  received: Type.Boolean(),
  /** To a `sync` push: the units the receiver sees online. */
  online: Type.Optional(Type.Array(UnitIdSchema, { maxItems: 1024 })),
  /** To a `sync` push: where the receiver reaches them. */
  where: Type.Optional(Type.Array(UnitAddressSchema, { maxItems: 1024 })),
});
export type PresenceAnswer = Static<typeof PresenceAnswerSchema>;

/**
 * Paging (src/paging/paging-service.ts): the paging unit offers a page to each member unit (POST
 * /pages, its ephemeral public value inside); a member that will play it answers with its own and
 * its media port; the page's SRTP key then travels sealed under their shared key (POST
 * /pages/:pageId/key), and POST /pages/:pageId/end ends it.
 */
export const PageIdSchema = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', description: 'page id' });
export const PagePrioritySchema = Type.Union([Type.Literal('announcement'), Type.Literal('emergency')]);
export const PageOfferSchema = Type.Object(
  {
    pageId: PageIdSchema,
    group: Type.String({ minLength: 1, maxLength: 64 }),
    priority: PagePrioritySchema,
    originName: Type.String({ maxLength: 64 }),
    ssrc: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    frameMs: Type.Integer({ minimum: 1, maximum: 120 }),
    keyShare: KeyShareSchema,
    /** The multicast group the page is also sent to (absent: unicast only). */
    multicast: Type.Optional(Type.Object({ address: Type.String({ maxLength: 45 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type PageOffer = Static<typeof PageOfferSchema>;
export const PageOfferAnswerSchema = Type.Object({
  accepted: Type.Boolean(),
  /** Why not (accepted false): do-not-disturb, page-playing, no-speaker, frame-mismatch. */
  reason: Type.Optional(Type.String({ maxLength: 64 })),
  keyShare: Type.Optional(KeyShareSchema),
  udpPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  /** Whether this unit listens on the offered multicast group (it then reports hearing it, or gets unicast). */
  multicast: Type.Optional(Type.Boolean()),
});
export type PageOfferAnswer = Static<typeof PageOfferAnswerSchema>;
export const PageKeySchema = Type.Object({ wrappedKey: WrappedKeySchema }, { additionalProperties: false });
export const PageKeyAnswerSchema = Type.Object({ playing: Type.Boolean(), reason: Type.Optional(Type.String({ maxLength: 64 })) });
export type PageKeyAnswer = Static<typeof PageKeyAnswerSchema>;
/** A member's report, about once a second while a page plays: it hears it, and how many packets came over multicast. */
export const PageHeardSchema = Type.Object({ multicastPackets: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });
export const PageHeardAnswerSchema = Type.Object({ via: Type.Union([Type.Literal('multicast'), Type.Literal('unicast'), Type.Literal('none')]) });
export const PageEndAnswerSchema = Type.Object({ ended: Type.Boolean() });
export const PageIdParamsSchema = Type.Object({ pageId: PageIdSchema });
