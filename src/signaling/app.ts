import type { DoorPulseResult } from '../gpio/gpio-service.js';
import { existsSync } from 'node:fs';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyBaseLogger,
  type RawServerDefault,
  type RouteOptions,
} from 'fastify';
import Type, { type TSchema } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import swagger from '@fastify/swagger';
import { answerSerializerCompiler } from './answer-serializer.js';
import fastifyStatic from '@fastify/static';
import fastifyCookie from '@fastify/cookie';
import type { Logger } from '../logging/logger.js';
import { CallError, type CallErrorCode, type CallService } from '../calls/call-service.js';
import type { UserStore } from '../users/user-store.js';
import { NameTakenError } from '../users/registration.js';
import type { PresenceService } from '../peers/presence-service.js';
import type { PeerDirectory } from '../peers/peer-directory.js';
import { errorAnswer, withAnswers, type Answers, type StatusReport } from './schemas.js';
import { registerPublicRoutes } from './public-routes.js';
import { registerUnitRoutes, type UnitRequestAuth } from './unit-routes.js';
import { registerEventsRoute, type GpioStatusFeed } from './events-route.js';
import { accessOfPath, createPeopleGuard, guardAnswers, registerSessionRoutes, type RouteAccess } from './session-routes.js';
import type { PeopleAccess } from '../security/people-access.js';
import { registerDoNotDisturbRoutes, type DoNotDisturbControl } from './do-not-disturb-routes.js';
import { HostPolicy } from '../security/host-check.js';
import { ConnectionGuard, connectionLimits } from './connection-guard.js';
import type { PeerDoor } from '../calls/peer-door.js';
import type { CallHistory } from '../history/call-history.js';
import { registerHistoryRoutes } from './history-routes.js';
import { registerAudioLevelsRoutes, type AudioLevelsControl } from './audio-levels-routes.js';
import { registerSelfTestRoutes, type SelfTestControl } from './selftest-routes.js';
import { registerGroupRoutes } from './group-routes.js';
import { registerPageRoutes } from './page-routes.js';
import type { PagingService } from '../paging/paging-service.js';
import type { GroupStore } from '../groups/group-store.js';
import type { GroupSync } from '../groups/group-sync.js';
import { registerSiteRoutes } from './site-routes.js';
import type { SiteMembership } from '../site/site-membership.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The exact JSON text received, kept for request signature checks. */
    rawBody?: string;
  }
}

export type IntercomApp = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

/** A plugin scope routes are registered in. */
export type ApiScope = FastifyInstance<
  RawServerDefault,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Everything the HTTP API talks to; createUnit() (src/unit.ts) builds these. */
export interface AppDeps {
  unit: { unitId: string; name: string; version: string };
  calls: CallService;
  users: UserStore;
  directory: PeerDirectory;
  status: () => StatusReport;
  /** The HTTP port the unit is reachable on (after listen). */
  httpPort: () => number;
  logger: Logger;
  /** People's login: every /api route but the open ones needs one of its sessions. */
  people: PeopleAccess;
  /** Authenticates unit-to-unit requests and signs the answers to authentic ones. */
  peerAuth: UnitRequestAuth;
  /** The front-panel GPIO, streamed as `gpio` events; absent: the stream has none. */
  gpio?: GpioStatusFeed;
  /** Pulses this unit's door relay (only during a call); absent: the route answers 404. */
  openDoor?: () => DoorPulseResult;
  /** Opens the door of the other unit of a call (POST /api/calls/:callId/open-door) and serves its unit-to-unit request; absent: no such routes. */
  peerDoor?: Pick<PeerDoor, 'open' | 'handleRequest'>;
  /** The unit's do-not-disturb switch (GET/PUT /api/do-not-disturb); absent: no such routes. */
  doNotDisturb?: DoNotDisturbControl;
  /** Directory with the web panel; served at / when it exists. */
  webRoot?: string | null;
  /** Largest accepted request body in bytes (default 16 KiB: every request here is small). */
  bodyLimit?: number;
  /** Interval of live call statistics and keep-alive comments on /api/events. */
  eventsHeartbeatMs?: number;
  /** The `http` configuration: names besides the unit's own it answers to, and connection limits (see connection-guard.ts). */
  http?: { allowedHosts?: string[]; maxConnections?: number; maxConnectionsPerAddress?: number };
  /** The unit's call history (GET/DELETE /api/history); absent: no such routes. */
  history?: CallHistory;
  /** Volume, microphone gain and mute (GET/PUT /api/audio/levels, `levels` events); absent: no such routes. */
  levels?: AudioLevelsControl;
  /** The acoustic self-test (GET/POST /api/selftest); absent: no such routes. */
  selfTest?: SelfTestControl;
  /** The site's call groups (GET/PUT/DELETE /api/groups); absent: no such routes. */
  groups?: GroupStore;
  /** Paging (GET/POST /api/page, POST /api/page/end, POST /api/unit/pages...); absent: no such routes. */
  paging?: PagingService;
  /** Spreads the groups between units (POST /api/unit/groups); absent: no such route. */
  groupSync?: GroupSync;
  /** Presence without polling (src/peers/presence-service.ts): GET /info's probe port and version, POST /presence. */
  presence?: Pick<PresenceService, 'infoFields' | 'receive' | 'answer'>;
  /** The unit's site membership: join codes, joining and leaving (/api/site, /api/join); absent: no such routes. */
  site?: SiteMembership;
  /** The token commands on the unit itself use instead of a login (src/security/local-api-token.ts); absent: none. */
  localApiToken?: string;
  /** Wall-clock ms (for the join code's remaining time); default Date.now. */
  now?: () => number;
}

/**
 * Headers on every answer, for browsers: the panel's pages load nothing but their own scripts,
 * styles and API (no inline code, so an injected string cannot run), no other site may frame them
 * (clickjacking), content types are not sniffed, no referrer leaves, and other sites cannot embed
 * the API's answers. The panel uses none of what this forbids (tested in Chromium).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; media-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

const CALL_ERROR_STATUS: Record<CallErrorCode, number> = {
  'unknown-user': 404,
  'unknown-call': 404,
  busy: 409,
  'same-unit': 409,
  'not-callee': 409,
  'call-ended': 409,
  'media-failed': 503,
  'caller-unreachable': 409,
};

/** Fastify's own client-error codes, named the way the rest of the API names its reasons. */
const FASTIFY_ERROR_NAMES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad-json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad-json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body-too-large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad-request',
};

/** Methods whose requests fastify never reads a body of. */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'TRACE']);
/** find-my-way's default: a longer path parameter is answered 414 before routing. */
const MAX_PARAM_LENGTH = 100;

/**
 * The answers this app's own machinery gives on a route, whatever its handler does: the login
 * guard, the body parser, validation, URL decoding, the error handler and shutdown. buildApp()
 * adds them to every /api route's `schema.response`, so the OpenAPI document lists every status
 * code a route can answer (test/signaling/openapi-truth.test.ts keeps it so) and no route can forget
 * one. Route files list only what their handlers answer.
 */
function machineryAnswers(route: Pick<RouteOptions, 'method' | 'url' | 'schema' | 'config' | 'bodyLimit'>, access: RouteAccess, appBodyLimit: number): Answers {
  const bodyLimit = route.bodyLimit ?? appBodyLimit;
  const method = [route.method].flat()[0].toUpperCase();
  const schema = route.schema ?? {};
  const readsBody = !BODYLESS_METHODS.has(method);
  const hasParams = route.url.includes(':');
  const validated = [schema.body, schema.querystring, schema.params, schema.headers].some((part) => part !== undefined) || hasParams;
  const badRequest = [
    ...(validated ? ['bad-request: the request does not match the route (the message names the field)'] : []),
    ...(hasParams ? ['bad-request: a path parameter is not valid URL encoding'] : []),
    ...(readsBody ? ['bad-json: the body is not JSON, or is empty with a JSON content type'] : []),
  ];
  const errors: Answers = {
    ...(access === 'person' ? guardAnswers(method) : {}),
    ...(badRequest.length > 0 ? { 400: errorAnswer(badRequest.join('\n')) } : {}),
    ...(readsBody
      ? {
          413: errorAnswer(`body-too-large: the body is larger than ${bodyLimit} bytes`),
          415: errorAnswer('unsupported-media-type: a body that is neither JSON nor plain text'),
        }
      : {}),
    ...(hasParams ? { 414: errorAnswer(`uri-too-long: a path parameter is longer than ${MAX_PARAM_LENGTH} characters`) } : {}),
    421: errorAnswer('misdirected-request: the Host header is not one of this unit\'s names or addresses (http.allowedHosts adds more)'),
    500: errorAnswer('internal: something failed inside the unit (the details are in its log)'),
    503: errorAnswer('the unit is shutting down (requests that arrive while it stops)'),
  };
  // A route that produces something else (an event stream) still answers its errors in JSON.
  const produces = (schema as { produces?: string[] }).produces;
  if (produces && !produces.includes('application/json')) {
    for (const [code, answer] of Object.entries(errors)) errors[code] = inJson(answer);
  }
  return {
    // A route that declares no answer still answers something on success (an event stream, say).
    ...(schema.response === undefined ? { 200: Type.Unknown({ description: 'success' }) } : {}),
    ...errors,
  };
}

/** An answer schema for the JSON media type only (fastify and the OpenAPI document both read this form). */
function inJson(answer: TSchema): TSchema {
  const { description } = answer as { description?: string };
  return { description, content: { 'application/json': { schema: answer } } } as unknown as TSchema;
}

/** One registered route and who may call it (see session-routes.ts). */
export interface RegisteredRoute {
  method: string;
  url: string;
  access: RouteAccess;
}

const ROUTE_TABLES = new WeakMap<object, Array<{ method: string | string[]; url: string; config?: { access?: RouteAccess } }>>();

/** Every route `app` has, with its access: lets tests prove that no route is open by mistake. */
export function registeredRoutes(app: IntercomApp): RegisteredRoute[] {
  // Read when asked, not when registered: a plugin's own onRoute hook may set the access after ours ran.
  return (ROUTE_TABLES.get(app) ?? []).flatMap((route) =>
    [route.method].flat().map((method) => ({
      method,
      url: route.url,
      access: route.config?.access ?? accessOfPath(route.url),
    })),
  );
}

/** Builds the unit's HTTP API (not listening; main.ts or a test calls listen()/inject()). */
export async function buildApp(deps: AppDeps): Promise<IntercomApp> {
  const bodyLimit = deps.bodyLimit ?? 16 * 1024;
  const app = Fastify({
    loggerInstance: deps.logger,
    // Peers poll every second; one log line per request would drown everything else.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
    // A client that stalls mid-request is cut off instead of holding a connection forever; one that
    // sends nothing is cut off by the header timeout, and an idle kept-alive one after 5 s.
    requestTimeout: 15_000,
    keepAliveTimeout: 5_000,
    http: { headersTimeout: 10_000, connectionsCheckingInterval: 1_000 },
    // Errors raised before routing get the same {error, message} body as every other 4xx.
    frameworkErrors: (error, _request, genericReply) => {
      const reply = genericReply as unknown as FastifyReply;
      const status = error.statusCode ?? 400;
      void reply.code(status).send({ error: status === 414 ? 'uri-too-long' : 'bad-request', message: error.message });
    },
    // Node's HTTP parser errors (oversized headers, garbage, timeouts) answered in the API's shape.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, reason, name] =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'headers-too-large']
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', 'request-timeout']
            : [400, 'Bad Request', 'bad-request'];
      if (socket.writable && socket.bytesWritten === 0) {
        const body = JSON.stringify({ error: name, message: `${reason.toLowerCase()} (${error.code ?? 'malformed request'})` });
        socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy(error);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setSerializerCompiler(answerSerializerCompiler);
  new ConnectionGuard(app.server, connectionLimits(deps.http ?? {}), deps.logger);
  const hosts = new HostPolicy({ unitName: deps.unit.name, allowedHosts: deps.http?.allowedHosts });
  // First of all hooks: every answer carries the browser headers, and a request addressed to a name
  // that is not this unit's (DNS rebinding, a relay) is refused before anything else looks at it.
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (!hosts.allows(request.headers.host)) {
      await reply.code(421).send({
        error: 'misdirected-request',
        message: `this unit does not answer to the host "${String(request.headers.host ?? '').slice(0, 100)}"; use its own name or address (http.allowedHosts adds names for a reverse proxy)`,
      });
    }
  });

  const routeTable: Array<{ method: string | string[]; url: string; config?: { access?: RouteAccess } }> = [];
  ROUTE_TABLES.set(app, routeTable);
  app.addHook('onRoute', (route) => {
    routeTable.push(route);
    // The panel's files (and hidden routes) are not part of the API's document.
    if (route.schema?.hide || accessOfPath(route.url) === 'open') return;
    // The units' routes say so only in their own hook, which runs after this one: judge them by path.
    const access = route.config?.access ?? accessOfPath(route.url);
    route.schema = { ...route.schema, response: withAnswers(route.schema?.response, machineryAnswers(route, access, bodyLimit)) };
  });

  // Keep the raw JSON text beside the parsed body, so a signature can be checked over exact bytes.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof CallError) {
      return reply.code(CALL_ERROR_STATUS[error.code]).send({ error: error.code, message: error.message, ...(error.call ? { call: error.call } : {}) });
    }
    if (error instanceof NameTakenError) {
      return reply.code(409).send({ error: 'name-taken', message: error.message });
    }
    if (error.validation) {
      const where = error.validationContext ?? 'request';
      const first = error.validation[0];
      const field = first?.instancePath.replace(/^\//, '').replaceAll('/', '.');
      const detail =
        first?.keyword === 'pattern'
          ? `${field} is not in the accepted form (names: letters, digits, spaces and . _ ' -, starting with a letter or digit; ids: letters, digits and -)`
          : error.message.replace(/^(body|querystring|params|headers)\/?\s*/, '');
      return reply.code(400).send({ error: 'bad-request', message: `${where}: ${detail}` });
    }
    // The data disk full or read-only: say so (nothing was half-written: state is saved atomically).
    const storageCode = (error as NodeJS.ErrnoException).code;
    if (storageCode === 'ENOSPC' || storageCode === 'EDQUOT') {
      request.log.error({ err: error }, 'data disk full');
      return reply.code(507).send({ error: 'storage-full', message: 'the unit\'s data disk is full; nothing was changed' });
    }
    if (storageCode === 'EROFS' || storageCode === 'EACCES' || storageCode === 'EPERM') {
      request.log.error({ err: error }, 'data directory not writable');
      return reply.code(503).send({ error: 'storage-unavailable', message: 'the unit cannot write its data directory; nothing was changed' });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: FASTIFY_ERROR_NAMES[error.code] ?? 'bad-request', message: error.message });
    }
    request.log.error({ err: error, method: request.method, url: request.url }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error (see the unit log)' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not-found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'pi-intercom unit API',
        version: deps.unit.version,
        description:
          'Signaling, users, peers and status of one intercom unit. Routes under /api/unit/ are spoken between units. ' +
          'Every error answer is a JSON object with `error` (a machine-readable reason) and `message`. Besides the answers ' +
          'each route lists, the HTTP server answers a request it cannot read at all before any route sees it: 400 (malformed ' +
          'HTTP), 408 (the request took longer than 15 s to arrive) or 431 (headers too large).',
      },
      tags: [
        { name: 'signal', description: 'calls (the original API)' },
        { name: 'users', description: 'users of this unit and the site' },
        { name: 'unit', description: 'state of this unit' },
        { name: 'unit-to-unit', description: 'requests units make to each other' },
        { name: 'site', description: 'joining a site by a one-time code, leaving it, removing a unit (the secret is rotated); /api/join/* is the exchange between the units (CPace)' },
        { name: 'session', description: 'people\'s login; every other route but /api/health needs its session cookie, and x-csrf-token on POST, PUT, PATCH and DELETE' },
      ],
    },
  });

  // People's login: the cookie parser first, so the guard after it sees the session cookie.
  await app.register(fastifyCookie, { hook: 'onRequest' });
  app.addHook('onRequest', createPeopleGuard(deps.people, deps.localApiToken));

  await app.register(async (api) => {
    const typed = api.withTypeProvider<TypeBoxTypeProvider>();
    registerSessionRoutes(typed, deps.people);
    registerPublicRoutes(typed, deps);
    registerEventsRoute(typed, deps);
    registerUnitRoutes(typed, deps);
    if (deps.doNotDisturb) registerDoNotDisturbRoutes(typed, deps.doNotDisturb);
    if (deps.history) registerHistoryRoutes(typed, deps.history);
    if (deps.levels) registerAudioLevelsRoutes(typed, deps.levels);
    if (deps.selfTest) registerSelfTestRoutes(typed, deps.selfTest);
    if (deps.groups) registerGroupRoutes(typed, { groups: deps.groups, isUser: (name) => deps.directory.findUser(name) !== null });
    if (deps.paging) registerPageRoutes(typed, deps.paging);
    if (deps.site) registerSiteRoutes(typed, { site: deps.site, directory: deps.directory, now: deps.now ?? Date.now });
  });

  app.get(
    '/api/openapi.json',
    {
      schema: {
        tags: ['unit'],
        summary: 'This document: every route with its request schemas and every answer it can give',
        response: { 200: Type.Object({ openapi: Type.String() }, { additionalProperties: true, description: 'the OpenAPI 3.1 document' }) },
      },
    },
    async () => app.swagger() as { openapi: string },
  );

  if (deps.webRoot && existsSync(deps.webRoot)) {
    await app.register(fastifyStatic, { root: deps.webRoot, prefix: '/', index: ['index.html'] });
  }
  return app;
}
