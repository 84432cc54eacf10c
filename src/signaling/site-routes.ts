import Type from 'typebox';
import type { FastifyReply } from 'fastify';
import type { ApiScope } from './app.js';
import { described, errorAnswer, STORAGE_ANSWERS } from './schemas.js';
import { JOIN_API_PREFIX, JoinAnswerSchema, SiteChangeError, type SiteMembership } from '../site/site-membership.js';
import type { PeerDirectory } from '../peers/peer-directory.js';

/**
 * Joining a site by a one-time code, over HTTP.
 *
 * People (logged in) on a unit of the site: GET /api/site, POST/DELETE /api/site/invitation.
 * People on the new unit: POST /api/site/join {code, host}; POST /api/site/leave.
 * People on any unit of the site: POST /api/site/remove {unitId} (the site's secret is rotated).
 * The new unit to the inviting unit: POST /api/join/start and /api/join/confirm. These are open
 * (the new unit has no secret of the site yet): they are the CPace exchange, whose answers are
 * worth nothing without the code; strictly validated, each address limited to 10 starts a minute,
 * and the code dies after 3 unconfirmed starts (see src/security/site-invitations.ts).
 */

const B64_SID = Type.String({ pattern: '^[A-Za-z0-9_-]{22}$', description: 'session id: 16 random bytes, base64url' });
const B64_SHARE = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'a ristretto255 element, base64url' });

const JoinStartSchema = Type.Object(
  {
    sid: B64_SID,
    share: B64_SHARE,
    unitId: Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }),
    name: Type.String({ minLength: 1, maxLength: 64 }),
    httpPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  { additionalProperties: false },
);
const JoinConfirmSchema = Type.Object({ sid: B64_SID, confirm: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }) }, { additionalProperties: false });

const InvitationSchema = Type.Object({
  code: Type.String({ description: 'the one-time code: 6 digits' }),
  validForMs: Type.Integer({ description: 'how long it is still valid' }),
  triesLeft: Type.Integer({ description: 'starts left before it dies' }),
});

const UntrustedSchema = Type.Object({
  address: Type.String({ description: 'host:port' }),
  host: Type.String(),
  port: Type.Integer(),
  source: Type.String({ description: 'how it was found: dns-sd, static or inbound' }),
  reason: Type.String({
    description:
      'another-site (a unit of another site), not-in-a-site (a unit on its own, e.g. new), former-peer (a unit of this site that no longer accepts this one: ' +
      'the site\'s secret was rotated without it; join again with a code), another-version, not-a-unit or unreachable',
  }),
  message: Type.String(),
});

const RejoinSchema = Type.Object({
  unitId: Type.String(),
  name: Type.String(),
  since: Type.Integer({ description: 'when the rotation that left it behind happened (ms since 1970)' }),
});

const SiteSchema = Type.Object({
  secretSource: Type.String({ description: 'where the site secret comes from: config (site.secret), config-replaced (site.secret replaced on this unit: joined, left or rotated), file or generated' }),
  units: Type.Integer({ description: 'other units of the site this unit knows' }),
  joinRefusal: Type.Union([Type.String(), Type.Null()], { description: 'why this unit cannot join another site now; null: it can' }),
  invitation: Type.Union([InvitationSchema, Type.Null()], { description: 'the open join code of this unit, or null' }),
  untrusted: Type.Array(UntrustedSchema, { description: 'addresses found on the LAN where no unit of this site answers' }),
  needsRejoining: Type.Array(RejoinSchema, { description: 'units that were offline when the site\'s secret was rotated: they must join again with a code' }),
});

const SiteUnitSchema = Type.Object({ unitId: Type.String(), name: Type.String() });
const RemovedSchema = Type.Object({
  removed: SiteUnitSchema,
  rotated: Type.Array(SiteUnitSchema, { description: 'units that received the new secret' }),
  needsRejoining: Type.Array(Type.Object({ unitId: Type.String(), name: Type.String(), problem: Type.String() }), {
    description: 'units that could not be reached: they keep the old secret and must join again with a code',
  }),
});
const RemoveBodySchema = Type.Object(
  { unitId: Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', description: 'the unit to remove (its id, as in /api/peers)' }) },
  { additionalProperties: false },
);

const JoinBodySchema = Type.Object(
  {
    code: Type.String({ pattern: '^[0-9]{6}$', description: 'the code the inviting unit shows' }),
    host: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'the inviting unit: name or address, optionally :port (default 5000); absent: the units found on the LAN are asked in turn' }),
    ),
  },
  { additionalProperties: false },
);
const JoinedSchema = Type.Object({
  joined: Type.Object({ unitId: Type.String(), name: Type.String(), address: Type.String() }),
  restarted: Type.Boolean({ description: 'false: the unit uses the new secret at once' }),
});

function invitationView(view: { code: string; expiresAt: number; triesLeft: number } | null, now: number) {
  return view === null ? null : { code: view.code, validForMs: Math.max(0, Math.round(view.expiresAt - now)), triesLeft: view.triesLeft };
}

function sendChangeError(reply: FastifyReply, error: unknown) {
  if (error instanceof SiteChangeError) return reply.code(error.status).send({ error: error.code, message: error.message });
  throw error;
}

export function registerSiteRoutes(app: ApiScope, deps: { site: SiteMembership; directory: PeerDirectory; now: () => number }): void {
  const { site, directory, now } = deps;

  app.get(
    '/api/site',
    {
      schema: {
        tags: ['site'],
        summary: 'This unit\'s site: where its secret comes from, its open join code, and units on the LAN it does not trust',
        response: { 200: described(SiteSchema, 'the site as this unit sees it') },
      },
    },
    async () => {
      const view = site.view();
      return { ...view, invitation: invitationView(view.invitation, now()), untrusted: directory.untrusted() };
    },
  );

  app.post(
    '/api/site/invitation',
    {
      schema: {
        tags: ['site'],
        summary: 'A new one-time code (6 digits, valid 5 minutes, 3 tries) for another unit to join this unit\'s site; the previous code dies',
        response: { 201: described(InvitationSchema, 'the code to type into the new unit') },
      },
    },
    async (_request, reply) => reply.code(201).send(invitationView(await site.invite(), now())!),
  );

  app.delete(
    '/api/site/invitation',
    {
      schema: {
        tags: ['site'],
        summary: 'Withdraw the open join code',
        response: { 200: Type.Object({ withdrawn: Type.Literal(true) }, { description: 'no code is open now' }) },
      },
    },
    async () => {
      site.cancelInvitation();
      return { withdrawn: true as const };
    },
  );

  app.post(
    '/api/site/join',
    {
      schema: {
        tags: ['site'],
        summary: 'Join the site of another unit with the code it shows: this unit receives the site secret and uses it at once',
        body: JoinBodySchema,
        response: {
          200: described(JoinedSchema, 'joined: the inviting unit and every unit of the site accept this one now'),
          400: errorAnswer('bad-request: the code is not 6 digits or the host is not a name or address'),
          403: errorAnswer('wrong-code: the code does not match the one the inviting unit shows'),
          409: errorAnswer(
            'in-a-site: leave the site first; busy: a join is under way; ' +
              'same-unit; no-invitation: the inviting unit has no open code',
          ),
          410: errorAnswer('code-used, code-expired or code-dead (3 wrong tries): ask for a new code'),
          429: errorAnswer('rate-limited: the inviting unit refuses more tries from this address for a minute'),
          502: errorAnswer('unreachable: the inviting unit does not answer; bad-answer: it does not answer like a unit'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (request, reply) => {
      try {
        const joined = await site.join(request.body.code, request.body.host);
        return { joined, restarted: false };
      } catch (error) {
        return sendChangeError(reply, error);
      }
    },
  );

  app.post(
    '/api/site/leave',
    {
      schema: {
        tags: ['site'],
        summary: 'Leave the site: this unit makes a new secret of its own (the other units no longer accept it)',
        response: {
          200: Type.Object({ left: Type.Literal(true) }, { description: 'left: the unit is on its own now' }),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (_request, reply) => {
      try {
        await site.leave();
        return { left: true as const };
      } catch (error) {
        return sendChangeError(reply, error);
      }
    },
  );

  app.post(
    '/api/site/remove',
    {
      schema: {
        tags: ['site'],
        summary:
          'Remove a unit from the site: a new site secret is made and handed (sealed per unit) to every other unit this unit knows; ' +
          'the removed unit is refused from then on; units that cannot be reached are listed as needing to join again',
        body: RemoveBodySchema,
        response: {
          200: described(RemovedSchema, 'removed: this unit and the units in "rotated" use the new secret'),
          404: errorAnswer('unknown-unit: no such unit in this unit\'s site'),
          409: errorAnswer('this-unit: a unit cannot remove itself (leave instead); busy: a site change is under way'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (request, reply) => {
      try {
        return await site.remove(request.body.unitId);
      } catch (error) {
        return sendChangeError(reply, error);
      }
    },
  );

  app.get(
    `${JOIN_API_PREFIX}/hello`,
    {
      config: { access: 'open' },
      schema: {
        tags: ['site'],
        summary:
          'Unit to unit, open: this unit\'s id and name (as DNS-SD announces them), whether it is in a site with other units, and whether the asking unit ' +
          'was left behind by a rotation of this site\'s secret, so a unit that does not share its secret can tell people why',
        querystring: Type.Object({ unit: Type.Optional(Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', description: 'the asking unit\'s id' })) }),
        response: {
          200: Type.Object(
            {
              unitId: Type.String(),
              name: Type.String(),
              inSite: Type.Boolean(),
              leftBehind: Type.Boolean({ description: 'the asking unit was offline when this site\'s secret was rotated: it must join again with a code' }),
            },
            { description: 'who answers here' },
          ),
        },
      },
    },
    async (request) => site.hello(request.query.unit),
  );

  // The new unit's side of the exchange: open, because it has no secret of the site yet.
  app.post(
    `${JOIN_API_PREFIX}/start`,
    {
      config: { access: 'open' },
      schema: {
        tags: ['site'],
        summary: 'Join exchange, step 1 (unit to unit, open): CPace share of the new unit; the answer carries this unit\'s share and the site secret sealed under the key only the right code gives',
        body: JoinStartSchema,
        response: {
          200: described(JoinAnswerSchema, 'this unit\'s share and the sealed site secret'),
          400: errorAnswer('bad-request: malformed, a reused session id, or not a valid group element'),
          404: errorAnswer('no-invitation: this unit has no open join code'),
          410: errorAnswer('code-used, code-expired or code-dead: the code is no longer valid'),
          429: errorAnswer('rate-limited: too many starts from this address in the last minute'),
        },
      },
    },
    async (request, reply) => {
      const outcome = site.answerStart(request.body, request.ip);
      if (outcome.ok) return outcome.answer;
      if (outcome.retryAfterS) reply.header('retry-after', String(outcome.retryAfterS));
      return reply.code(outcome.status).send({ error: outcome.error, message: outcome.message });
    },
  );

  app.post(
    `${JOIN_API_PREFIX}/confirm`,
    {
      config: { access: 'open' },
      schema: {
        tags: ['site'],
        summary: 'Join exchange, step 2 (unit to unit, open): the new unit proves it had the code; the code is spent',
        body: JoinConfirmSchema,
        response: {
          200: Type.Object({ ok: Type.Literal(true) }, { description: 'confirmed: the new unit is a unit of the site' }),
          403: errorAnswer('wrong-code: the confirmation does not match'),
          404: errorAnswer('unknown-session: no run of the exchange with this session id'),
          410: errorAnswer('code-used or code-expired'),
        },
      },
    },
    async (request, reply) => {
      const outcome = site.answerConfirm(request.body);
      if (outcome.ok) return { ok: true as const };
      return reply.code(outcome.status).send({ error: outcome.error, message: outcome.message });
    },
  );
}
