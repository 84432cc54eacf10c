import type { FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps, ApiScope } from './app.js';
import {
  AcceptAnswerSchema,
  AcceptRequestSchema,
  CallIdParamsSchema,
  CallOfferSchema,
  CallStateAnswerSchema,
  DoorOpenedAnswerSchema,
  EndRequestSchema,
  GroupSyncSchema,
  OfferAnswerSchema,
  PageEndAnswerSchema,
  PageHeardAnswerSchema,
  PageHeardSchema,
  PageIdParamsSchema,
  PageKeyAnswerSchema,
  PageKeySchema,
  PageOfferAnswerSchema,
  PageOfferSchema,
  RotationCommitAnswerSchema,
  RotationCommitSchema,
  RotationOfferAnswerSchema,
  RotationOfferSchema,
  PresenceAnswerSchema,
  PresencePushSchema,
  SENDER_HEADER,
  UNIT_API_PREFIX,
  UnitInfoSchema,
} from '../peers/peer-protocol.js';
import { CallErrorSchema, STORAGE_ANSWERS, described, errorAnswer, withAnswers } from './schemas.js';
import type { IncomingPeerRequest, VerifyResult } from '../security/peer-auth.js';
import { PageError } from '../paging/paging-service.js';

export type { IncomingPeerRequest } from '../security/peer-auth.js';

/**
 * Authenticates unit-to-unit requests and signs their answers (PeerRequestAuthenticator in
 * src/security/peer-auth.ts). `signAnswer` gets the verdict, so it signs only answers to requests
 * that proved to come from a unit of the site.
 */
export interface UnitRequestAuth {
  verify(request: IncomingPeerRequest): VerifyResult | Promise<VerifyResult>;
  signAnswer(verdict: VerifyResult, answer: { request: IncomingPeerRequest; status: number; body: string }): Record<string, string>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authentication verdict of a unit-to-unit request (set before validation). */
    peerVerdict?: VerifyResult;
  }
}

/** The verifier's refusal, documented on every unit-to-unit route when there is a verifier. */
const UNSIGNED_ANSWER = {
  401: errorAnswer(
    'unauthorized: the request is not signed with the site secret for this unit and this address, or its receiver, time or nonce is not accepted; ' +
      'protocol-version: the sender speaks another version of the unit protocol (the message says which)',
  ),
};

function incoming(request: FastifyRequest): IncomingPeerRequest {
  return { method: request.method, url: request.url, headers: request.headers, rawBody: request.rawBody ?? '' };
}

/** The unit that sent the request, as its signature proved (the preValidation hook refused any other). */
function senderOf(request: FastifyRequest): string {
  const verdict = request.peerVerdict;
  return verdict?.ok ? verdict.unitId : '';
}

/** Routes other units call on this one (see src/peers/peer-protocol.ts). */
export function registerUnitRoutes(app: ApiScope, deps: AppDeps): void {
  const { calls, users, unit } = deps;
  const auth = deps.peerAuth;

  app.register(async (plainUnitApi) => {
    const unitApi = plainUnitApi.withTypeProvider<TypeBoxTypeProvider>();
    // Not people's routes: these are authenticated with the site secret by the hook below.
    unitApi.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: 'unit' };
      route.schema = { ...route.schema, response: withAnswers(route.schema?.response, UNSIGNED_ANSWER) };
    });
    // Before validation: a stranger learns nothing about the routes' schemas, and every refusal is counted.
    unitApi.addHook('preValidation', async (request, reply) => {
      const verdict = await auth.verify(incoming(request));
      request.peerVerdict = verdict;
      if (!verdict.ok) {
        return reply.code(401).send({ error: verdict.reason === 'protocol-version' ? 'protocol-version' : 'unauthorized', message: verdict.message });
      }
    });
    // Only answers to authenticated requests are signed: a request refused before its signature was
    // checked (bad JSON, wrong media type, too large) or that failed it gets an unsigned answer.
    unitApi.addHook('onSend', async (request, reply, payload) => {
      if (request.peerVerdict && typeof payload === 'string') {
        reply.headers(auth.signAnswer(request.peerVerdict, { request: incoming(request), status: reply.statusCode, body: payload }));
      }
      return payload;
    });

    unitApi.get(
      '/info',
      {
        schema: {
          tags: ['unit-to-unit'],
          summary: "This unit's identity, users, whether it is in a call, its probe port and info version (asked when a unit is found, or its version moved)",
          response: { 200: described(UnitInfoSchema, 'this unit') },
        },
      },
      async () => ({
        unitId: unit.unitId,
        name: unit.name,
        version: unit.version,
        httpPort: deps.httpPort(),
        users: users.list().map((user) => user.name),
        inCall: calls.inCall,
        ...deps.presence?.infoFields(),
      }),
    );

    const presence = deps.presence;
    if (presence) {
      unitApi.post(
        '/presence',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: "A unit's change pushed to the site: its new info, or what its probing found about a unit (checked here before it is believed)",
            body: PresencePushSchema,
            response: { 200: described(PresenceAnswerSchema, 'taken') },
          },
        },
        async (request) => {
          // Answered at once: checking another unit's word takes probes, which the sender need not wait for.
          const answer = presence.answer(request.body);
          presence.receive(senderOf(request), request.body, request.ip).catch((error: Error) => deps.logger.warn({ err: error }, 'presence push not handled'));
          return answer;
        },
      );
    }

    unitApi.post(
      '/calls',
      {
        schema: {
          tags: ['unit-to-unit'],
          summary: 'Offer a call to a user of this unit: it rings, or the answer is busy or glare-lost',
          body: CallOfferSchema,
          headers: { type: 'object', properties: { [SENDER_HEADER]: { type: 'string' } } },
          response: {
            200: described(OfferAnswerSchema, 'ringing, busy, or glare-lost (both units called each other; winningCallId survives)'),
            404: errorAnswer('unknown-user: the callee is not a user of this unit, or the offer names another unit as the caller'),
            409: errorAnswer('caller-unreachable: this unit does not know the calling unit, and it does not answer, signed, at the address the offer came from'),
          },
        },
      },
      async (request) => calls.handleOffer(request.body, { unitId: senderOf(request), host: request.ip }),
    );

    unitApi.post(
      '/calls/:callId/accept',
      {
        schema: {
          tags: ['unit-to-unit'],
          summary: "The callee accepted: here is its media endpoint; the answer carries the caller's",
          params: CallIdParamsSchema,
          body: AcceptRequestSchema,
          response: {
            200: described(AcceptAnswerSchema, "the caller's media endpoint; the call is active"),
            404: errorAnswer('unknown-call'),
            409: errorAnswer('not-callee: this unit is the one being called; call-ended: the call has ended here (the answer carries it)', CallErrorSchema),
            503: errorAnswer('media-failed: this unit could not start audio; the call has ended (the answer carries it)', CallErrorSchema),
          },
        },
      },
      async (request) => calls.handleRemoteAccept(request.params.callId, request.body.media, senderOf(request)),
    );

    unitApi.post(
      '/calls/:callId/end',
      {
        schema: {
          tags: ['unit-to-unit'],
          summary: 'The other unit ended the call, with its reason',
          params: CallIdParamsSchema,
          body: EndRequestSchema,
          response: { 200: described(CallStateAnswerSchema, "the call's state here, ended"), 404: errorAnswer('unknown-call') },
        },
      },
      async (request) => calls.handleRemoteEnd(request.params.callId, request.body.reason, senderOf(request)),
    );

    unitApi.get(
      '/calls/:callId',
      {
        schema: {
          tags: ['unit-to-unit'],
          summary: "A call's phase here (the peer-lost probe)",
          params: CallIdParamsSchema,
          response: { 200: described(CallStateAnswerSchema, "the call's state here"), 404: errorAnswer('unknown-call: this unit has no such call (it may have restarted)') },
        },
      },
      async (request) => calls.handleStateQuery(request.params.callId, senderOf(request)),
    );

    const peerDoor = deps.peerDoor;
    if (peerDoor) {
      unitApi.post(
        '/calls/:callId/open-door',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: "The other unit of this unit's active call asks it to pulse its door relay (the person inside lets the visitor in)",
            params: CallIdParamsSchema,
            response: {
              200: described(DoorOpenedAnswerSchema, 'the relay is on for pulseMs (and the unit chimes)'),
              403: errorAnswer('not-in-call: the requesting unit is not the other unit of this call'),
              404: errorAnswer('unknown-call: no such call here; no-relay: this unit has no door relay (gpio.doorRelay); gpio-unavailable: GPIO is not set up on this unit'),
              409: errorAnswer('no-active-call: the call is not active (still ringing, or ended); already-open: the relay is on already'),
            },
          },
        },
        async (request, reply) => {
          const result = peerDoor.handleRequest(request.params.callId, senderOf(request));
          if (result.ok) return { pulseMs: result.pulseMs };
          const status = result.code === 'not-in-call' ? 403 : result.code === 'no-active-call' || result.code === 'already-open' ? 409 : 404;
          return reply.code(status).send({ error: result.code, message: result.reason });
        },
      );
    }
    const paging = deps.paging;
    if (paging) {
      unitApi.post(
        '/pages',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: "A page offered to this unit (its public value inside): accepted with this unit's public value and media port, or refused with the reason",
            body: PageOfferSchema,
            response: { 200: described(PageOfferAnswerSchema, 'whether this unit plays the page') },
          },
        },
        async (request) => paging.receiveOffer(request.body, senderOf(request), request.ip),
      );
      unitApi.post(
        '/pages/:pageId/key',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: "The page's SRTP key, sealed under the key both units derived: the page plays",
            params: PageIdParamsSchema,
            body: PageKeySchema,
            response: { 200: described(PageKeyAnswerSchema, 'whether the page plays'), 404: errorAnswer('unknown-page: no such page was offered to this unit by the sender') },
          },
        },
        async (request, reply) => {
          try {
            return await paging.receiveKey(request.params.pageId, senderOf(request), request.body.wrappedKey);
          } catch (error) {
            if (error instanceof PageError) return reply.code(404).send({ error: error.code, message: error.message });
            throw error;
          }
        },
      );
      unitApi.post(
        '/pages/:pageId/heard',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: 'A member of this unit\'s page hears it (about once a second): members that stop reporting are dropped, members that hear the multicast stream stay on it',
            params: PageIdParamsSchema,
            body: PageHeardSchema,
            response: { 200: described(PageHeardAnswerSchema, 'how the page is sent to the member now (none: it is not a member of a page running here)') },
          },
        },
        async (request) => paging.receiveHeard(request.params.pageId, senderOf(request), request.body.multicastPackets),
      );
      unitApi.post(
        '/pages/:pageId/end',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: 'The paging unit ended its page',
            params: PageIdParamsSchema,
            response: { 200: described(PageEndAnswerSchema, 'whether the page was playing here') },
          },
        },
        async (request) => paging.receiveEnd(request.params.pageId, senderOf(request)),
      );
    }

    const groupSync = deps.groupSync;
    if (groupSync) {
      unitApi.post(
        '/groups',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: "Exchange call groups: the sender's versions in, this unit's (after taking the newer ones) out",
            body: GroupSyncSchema,
            response: { 200: described(GroupSyncSchema, "this unit's groups, tombstones included"), ...STORAGE_ANSWERS },
          },
        },
        async (request) => groupSync.receive(request.body.groups, senderOf(request)),
      );
    }
    const site = deps.site;
    if (site) {
      unitApi.post(
        '/site/rotation',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: "Secret rotation, step 1: a unit of the site removes another and sends a fresh X25519 public value; the answer is this unit's",
            body: RotationOfferSchema,
            response: {
              200: described(RotationOfferAnswerSchema, "this unit's fresh public value for the handover"),
              400: errorAnswer('bad-request: an unusable key share or a rotation id in use'),
              409: errorAnswer('removed: this unit is the one being removed; busy: this unit is removing a unit itself'),
              429: errorAnswer('busy: too many rotations under way'),
            },
          },
        },
        async (request, reply) => {
          const outcome = site.answerRotationOffer(request.body, senderOf(request));
          if (outcome.ok) return outcome.answer;
          return reply.code(outcome.status).send({ error: outcome.error, message: outcome.message });
        },
      );
      unitApi.post(
        '/site/rotation/commit',
        {
          schema: {
            tags: ['unit-to-unit'],
            summary: "Secret rotation, step 2: the site's new secret sealed for this unit; it switches to it at once (the answer is still signed with the old one) and proves it opened it",
            body: RotationCommitSchema,
            response: {
              200: described(RotationCommitAnswerSchema, 'switched: the confirmation that this unit holds the new secret'),
              400: errorAnswer('bad-request: the sealed secret does not open under the handover\'s key'),
              404: errorAnswer('unknown-rotation: no step 1 with this id from this unit (or it expired)'),
              ...STORAGE_ANSWERS,
            },
          },
        },
        async (request, reply) => {
          const outcome = await site.answerRotationCommit(request.body, senderOf(request));
          if (outcome.ok) return outcome.answer;
          return reply.code(outcome.status).send({ error: outcome.error, message: outcome.message });
        },
      );
    }
  }, { prefix: UNIT_API_PREFIX });
}
