import Type from 'typebox';
import type { AppDeps, ApiScope } from './app.js';
import {
  CallErrorSchema,
  CallIdBodySchema,
  CallResponseSchema,
  CallSchema,
  DirectoryEntrySchema,
  HealthSchema,
  DoorOpenResponseSchema,
  PeerDoorOpenResponseSchema,
  IncomingQuerySchema,
  InitiateBodySchema,
  PeerSchema,
  RegisterBodySchema,
  RegisterResponseSchema,
  StatusSchema,
  STORAGE_ANSWERS,
  described,
  errorAnswer,
} from './schemas.js';
import { registerUser } from '../users/registration.js';
import { CallIdSchema } from '../peers/peer-protocol.js';
import { CallError } from '../calls/call-service.js';

/**
 * The API people, panels and scripts use: the original endpoints first, then the newer ones.
 * Each route lists the answers its handler gives; buildApp() adds those of the login guard, the
 * body parser, validation and the error handler to every route they apply to.
 */
export function registerPublicRoutes(app: ApiScope, deps: AppDeps): void {
  const { calls, users, directory, unit } = deps;
  const startedAt = Date.now();

  app.post(
    '/api/users/register',
    {
      schema: {
        tags: ['users'],
        summary: 'Register a user (room or person) on this unit; names are unique across the site',
        body: RegisterBodySchema,
        response: {
          200: described(RegisterResponseSchema, 'the user was already on this unit (created: false)'),
          201: described(RegisterResponseSchema, 'registered (created: true)'),
          409: errorAnswer('name-taken: another unit of the site has a user of this name'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (request, reply) => {
      const { name, created } = await registerUser(request.body.name, { store: users, directory });
      const entry = directory.findUser(name)!;
      return reply.code(created ? 201 : 200).send({ user: entry, created });
    },
  );

  app.post(
    '/api/signal/initiate',
    {
      schema: {
        tags: ['signal'],
        summary: "Call a user or a call group: `from` is on this unit, `to` a user anywhere in the site or a group (every member's unit rings; the first to answer gets the call). The call rings at the callee, or ends at once (busy, unreachable).",
        body: InitiateBodySchema,
        response: {
          200: described(CallResponseSchema, 'the call: ringing at the callee, or already ended (busy, unreachable: see endReason); when `to` is ringing `from` already, that call is answered'),
          404: errorAnswer('unknown-user: `from` is not a user of this unit, or `to` is no user or group of the site (or no member of the group is)'),
          409: errorAnswer('same-unit: both users are on this unit (or every member of the group `to` is); busy: this unit is in a call (the answer carries it); call-ended, not-callee: the call being answered changed meanwhile', CallErrorSchema),
          503: errorAnswer('media-failed: `to` was ringing `from` already, and this unit could not start audio to answer it (the answer carries the ended call)', CallErrorSchema),
        },
      },
    },
    async (request) => ({ call: await calls.initiate(request.body.from, request.body.to) }),
  );

  app.post(
    '/api/signal/accept',
    {
      schema: {
        tags: ['signal'],
        summary: 'Accept a call ringing on this unit; audio starts both ways',
        body: CallIdBodySchema,
        response: {
          200: described(CallResponseSchema, 'the call: active, or ended when the caller could not be reached or gave up'),
          404: errorAnswer('unknown-call'),
          409: errorAnswer('call-ended: the call has ended (the answer carries it); not-callee: this unit placed the call', CallErrorSchema),
          503: errorAnswer('media-failed: this unit could not prepare or start audio (the answer carries the call)', CallErrorSchema),
        },
      },
    },
    async (request) => ({ call: await calls.accept(request.body.callId) }),
  );

  app.post(
    '/api/signal/end',
    {
      schema: {
        tags: ['signal'],
        summary: 'Hang up, reject (ringing here) or cancel (ringing there) a call; ending an ended call changes nothing',
        body: CallIdBodySchema,
        response: { 200: described(CallResponseSchema, 'the call, ended'), 404: errorAnswer('unknown-call') },
      },
    },
    async (request) => ({ call: calls.end(request.body.callId) }),
  );

  app.get(
    '/api/signal/incoming',
    {
      schema: {
        tags: ['signal'],
        summary: 'Calls ringing for a user of this unit',
        querystring: IncomingQuerySchema,
        response: {
          200: Type.Object({ calls: Type.Array(CallSchema) }, { description: 'the calls ringing for the user (none or one)' }),
          404: errorAnswer('unknown-user: no such user on this unit'),
        },
      },
    },
    async (request) => {
      if (!users.get(request.query.user)) throw new CallError('unknown-user', `no user "${request.query.user}" on this unit`);
      return { calls: calls.incomingFor(request.query.user) };
    },
  );

  app.get(
    '/api/users',
    {
      schema: {
        tags: ['users'],
        summary: "The site's directory: every unit's users, with where they are and whether that unit is online",
        response: { 200: Type.Object({ users: Type.Array(DirectoryEntrySchema) }, { description: "the site's users" }) },
      },
    },
    async () => ({ users: directory.entries() }),
  );

  app.get(
    '/api/peers',
    {
      schema: {
        tags: ['unit'],
        summary: 'Other units of the site, found by DNS-SD or the static peers list',
        response: { 200: Type.Object({ peers: Type.Array(PeerSchema) }, { description: 'the other units' }) },
      },
    },
    async () => ({ peers: directory.peers() }),
  );

  app.get(
    '/api/calls',
    {
      schema: {
        tags: ['signal'],
        summary: 'The live call (with audio statistics) and recently ended calls, newest first',
        response: {
          200: Type.Object({ current: Type.Union([CallSchema, Type.Null()]), calls: Type.Array(CallSchema) }, { description: 'the live call and the recent ones' }),
        },
      },
    },
    async () => ({ current: calls.current(), calls: calls.list() }),
  );

  app.get(
    '/api/calls/:callId',
    {
      schema: {
        tags: ['signal'],
        summary: 'One call (live or recently ended)',
        params: Type.Object({ callId: CallIdSchema }),
        response: { 200: described(CallResponseSchema, 'the call'), 404: errorAnswer('unknown-call: no live or recent call with this id') },
      },
    },
    async (request) => {
      const call = calls.get(request.params.callId);
      if (!call) throw new CallError('unknown-call', `no call "${request.params.callId}"`);
      return { call };
    },
  );

  app.get(
    '/api/status',
    {
      schema: {
        tags: ['unit'],
        summary: 'Unit name, version, uptime, audio devices, live call statistics, CPU, temperature, memory',
        response: { 200: described(StatusSchema, "the unit's state") },
      },
    },
    async () => deps.status(),
  );

  app.post(
    '/api/door/open',
    {
      schema: {
        tags: ['unit'],
        summary: "Pulse this unit's door relay (only while a call is active)",
        response: {
          200: described(DoorOpenResponseSchema, 'the relay is on for pulseMs'),
          404: errorAnswer('no-relay: this unit has no door relay (gpio.doorRelay); gpio-unavailable: GPIO is not set up on this unit (the status says why)'),
          409: errorAnswer('no-active-call: the door opens only during an active call; already-open: the relay is on already'),
        },
      },
    },
    async (_request, reply) => {
      if (!deps.openDoor) return reply.code(404).send({ error: 'no-relay', message: 'this unit has no door relay' });
      const result = deps.openDoor();
      if (result.ok) return result;
      const status = result.code === 'no-relay' || result.code === 'gpio-unavailable' ? 404 : 409;
      return reply.code(status).send({ error: result.code, message: result.reason });
    },
  );

  const peerDoor = deps.peerDoor;
  if (peerDoor) {
    app.post(
      '/api/calls/:callId/open-door',
      {
        schema: {
          tags: ['signal'],
          summary: "Open the door of the other unit of an active call (the door station's relay): the person inside lets the visitor in",
          params: Type.Object({ callId: CallIdSchema }),
          response: {
            200: described(PeerDoorOpenResponseSchema, "the other unit's relay is on for pulseMs"),
            404: errorAnswer('unknown-call: no live or recent call with this id'),
            409: errorAnswer(
              'no-active-call: the call is not active (ringing or ended); no-relay: the other unit has no door relay; gpio-unavailable: GPIO is not set up on the other unit; ' +
                'already-open: its relay is on already; peer-refused: the other unit refused (the message says why)',
            ),
            502: errorAnswer('peer-unreachable: the other unit did not answer, or its answer was not signed by a unit of this site'),
          },
        },
      },
      async (request, reply) => {
        const result = await peerDoor.open(request.params.callId);
        if (result.ok) return result;
        const status = result.code === 'unknown-call' ? 404 : result.code === 'peer-unreachable' ? 502 : 409;
        return reply.code(status).send({ error: result.code, message: result.reason });
      },
    );
  }

  app.get(
    '/api/health',
    { config: { access: 'open' }, schema: { tags: ['unit'], summary: 'Liveness: answers while the service runs', response: { 200: described(HealthSchema, 'the service runs') } } },
    async () => ({
      ok: true,
      unitId: unit.unitId,
      name: unit.name,
      version: unit.version,
      uptimeS: Math.floor((Date.now() - startedAt) / 1000),
    }),
  );
}
