import type { IncomingHttpHeaders } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps, ApiScope } from './app.js';
import {
  AcceptAnswerSchema,
  AcceptRequestSchema,
  CallIdParamsSchema,
  CallOfferSchema,
  CallStateAnswerSchema,
  EndRequestSchema,
  OfferAnswerSchema,
  SENDER_HEADER,
  UNIT_API_PREFIX,
  UnitInfoSchema,
} from '../peers/peer-protocol.js';
import { CallErrorSchema, described, errorAnswer, withAnswers } from './schemas.js';

/** What a verifier sees of an incoming unit-to-unit request: method, path, headers, exact body. */
export interface IncomingPeerRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
}

/** Accepts or refuses a unit-to-unit request (the authentication issue plugs in here). */
export type PeerRequestVerifier = (request: IncomingPeerRequest) => boolean | Promise<boolean>;

/** Signs an answer to a unit-to-unit request: extra response headers (the authentication issue plugs in here). */
export type PeerResponseSigner = (answer: { requestHeaders: IncomingHttpHeaders; status: number; body: string }) => Record<string, string>;

/** The verifier's refusal, documented on every unit-to-unit route when there is a verifier. */
const UNSIGNED_ANSWER = {
  401: errorAnswer('unauthorized: the request is not signed with the site secret, or its signature, time or nonce is not accepted'),
};

/** Routes other units call on this one (see src/peers/peer-protocol.ts). */
export function registerUnitRoutes(app: ApiScope, deps: AppDeps): void {
  const { calls, users, unit } = deps;
  const verify = deps.verifyPeerRequest;
  const signResponse = deps.signPeerResponse;

  app.register(async (plainUnitApi) => {
    const unitApi = plainUnitApi.withTypeProvider<TypeBoxTypeProvider>();
    // Not people's routes: these are authenticated with the site secret by the hook below.
    unitApi.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: 'unit' };
      if (verify) route.schema = { ...route.schema, response: withAnswers(route.schema?.response, UNSIGNED_ANSWER) };
    });
    // Before validation: a stranger learns nothing about the routes' schemas, and every refusal is counted.
    unitApi.addHook('preValidation', async (request, reply) => {
      if (!verify) return;
      const accepted = await verify({ method: request.method, url: request.url, headers: request.headers, rawBody: request.rawBody ?? '' });
      if (!accepted) return reply.code(401).send({ error: 'unauthorized', message: 'unit-to-unit request refused' });
    });
    unitApi.addHook('onSend', async (request, reply, payload) => {
      if (signResponse && typeof payload === 'string') reply.headers(signResponse({ requestHeaders: request.headers, status: reply.statusCode, body: payload }));
      return payload;
    });

    unitApi.get(
      '/info',
      {
        schema: {
          tags: ['unit-to-unit'],
          summary: "This unit's identity, users and whether it is in a call (polled by peers)",
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
      }),
    );

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
            404: errorAnswer('unknown-user: the callee is not a user of this unit'),
          },
        },
      },
      async (request) => calls.handleOffer(request.body, request.ip),
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
      async (request) => calls.handleRemoteAccept(request.params.callId, request.body.media, request.ip),
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
      async (request) => calls.handleRemoteEnd(request.params.callId, request.body.reason),
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
      async (request) => calls.handleStateQuery(request.params.callId),
    );
  }, { prefix: UNIT_API_PREFIX });
}
