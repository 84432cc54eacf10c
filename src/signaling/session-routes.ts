import Type from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiScope } from './app.js';
import { described, errorAnswer, type Answers } from './schemas.js';
import { CSRF_HEADER, SESSION_COOKIE, type PeopleAccess } from '../security/people-access.js';
import { LOCAL_TOKEN_HEADER, localTokenMatches } from '../security/local-api-token.js';

/**
 * People's login over HTTP: GET/POST/DELETE /api/session, and the guard that closes every other
 * /api route to requests without a live session (and state-changing ones without the CSRF token).
 *
 * Which routes are open is part of each route's own definition (`config.access`): a route that
 * says nothing is closed, so a new route cannot be forgotten.
 */

/** Who may call a route: anyone, other units (signed with the site secret), or logged-in people. */
export type RouteAccess = 'open' | 'unit' | 'person';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Default: 'person' for /api routes, 'open' for the panel's static files. */
    access?: RouteAccess;
  }
}

export const HOW_TO_SET_PASSWORD =
  'No panel password is set on this unit. Set one with "sudo intercom password" on the unit (over ssh), ' +
  'or write panel_password=... into intercom.txt on the SD card\'s boot partition and restart the unit.';

const SessionStateSchema = Type.Object({
  authenticated: Type.Boolean(),
  passwordSet: Type.Boolean({ description: 'false: nobody can log in until a password is set on the unit' }),
  csrfToken: Type.Optional(Type.String({ description: 'send it as x-csrf-token with every POST, PUT, PATCH and DELETE (only when authenticated)' })),
  howToSetPassword: Type.Optional(Type.String({ description: 'when no password is set: how to set one' })),
});
const LoginBodySchema = Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }) });
const LoginAnswerSchema = Type.Object({ csrfToken: Type.String({ description: 'send it as x-csrf-token with every state-changing request' }) });

/** Who may call a path no route declares access for: the units' own prefix, else people for /api, else anyone (the panel's files). */
export function accessOfPath(path: string): RouteAccess {
  // Lower case: "/API/..." matches no route today, but no spelling of /api is left open by accident.
  const lower = path.toLowerCase();
  // Unknown paths among the units' own routes are left to them (a 404, as before the login existed).
  if (lower.startsWith('/api/unit/')) return 'unit';
  return lower === '/api' || lower.startsWith('/api/') ? 'person' : 'open';
}

/**
 * Who may make this request: what the matched route declares, else by the requested path, so /api
 * paths no route declares (unknown ones, or ones only the panel's catch-all file route matches) are
 * closed to people without a session.
 */
export function routeAccess(request: FastifyRequest): RouteAccess {
  const declared = request.routeOptions.config?.access;
  if (declared) return declared;
  // A matched /api route is judged by its pattern, whatever spelling of the URL matched it.
  const pattern = request.routeOptions.url;
  if (pattern !== undefined && (pattern === '/api' || pattern.startsWith('/api/'))) return 'person';
  return accessOfPath(request.url.split('?')[0]);
}

function setSessionCookie(reply: FastifyReply, value: string, clear = false): void {
  // No Secure flag: units serve plain HTTP on the LAN (see docs/SECURITY.md).
  reply.setCookie(SESSION_COOKIE, value, { httpOnly: true, sameSite: 'strict', path: '/', ...(clear ? { maxAge: 0, expires: new Date(0) } : {}) });
}

/** Methods that need the CSRF token on a closed route (the same rule as PeopleAccess.authorize). */
function needsCsrfToken(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
}

/** What the guard answers on a route people may call with `method`: documented on every closed route. */
export function guardAnswers(method: string): Answers {
  return {
    401: errorAnswer('unauthenticated: no session cookie, or its session has ended; log in with POST /api/session'),
    ...(needsCsrfToken(method) ? { 403: errorAnswer(`csrf: the ${CSRF_HEADER} header is missing or is not this session's token`) } : {}),
  };
}

/**
 * The guard of closed routes, as a root onRequest hook (after cookie parsing, before the body is
 * read, so a stranger's request is refused without parsing anything it sent). It sees every request,
 * including unmatched ones: an unknown /api path answers 401, not 404, to a stranger.
 */
export function createPeopleGuard(access: PeopleAccess, localApiToken?: string) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (routeAccess(request) !== 'person') return;
    // A command on the unit itself (it could read the token file in the data directory).
    if (localApiToken !== undefined && localTokenMatches(localApiToken, request.headers[LOCAL_TOKEN_HEADER])) return;
    const decision = await access.authorize(request.cookies[SESSION_COOKIE], request.method, request.headers[CSRF_HEADER]);
    if (decision.kind === 'unauthenticated') {
      await reply.code(401).header('cache-control', 'no-store').send({ error: 'unauthenticated', message: decision.reason });
    } else if (decision.kind === 'csrf') {
      await reply.code(403).send({ error: 'csrf', message: decision.reason });
    }
  };
}

export function registerSessionRoutes(app: ApiScope, access: PeopleAccess): void {
  app.get(
    '/api/session',
    {
      config: { access: 'open' },
      schema: {
        tags: ['session'],
        summary: 'Whether this browser is logged in, and whether the unit has a password at all (open)',
        response: { 200: described(SessionStateSchema, 'whether this browser is logged in') },
      },
    },
    async (request, reply) => {
      const { passwordSet, session } = await access.describe(request.cookies[SESSION_COOKIE]);
      reply.header('cache-control', 'no-store');
      return {
        authenticated: session !== null,
        passwordSet,
        ...(session ? { csrfToken: session.csrfToken } : {}),
        ...(passwordSet ? {} : { howToSetPassword: HOW_TO_SET_PASSWORD }),
      };
    },
  );

  app.post(
    '/api/session',
    {
      config: { access: 'open' },
      schema: {
        tags: ['session'],
        summary: 'Log in with the panel password: sets the HttpOnly session cookie and answers the CSRF token (open; rate-limited per address)',
        body: LoginBodySchema,
        response: {
          200: described(LoginAnswerSchema, 'logged in: the session cookie is set'),
          401: errorAnswer('wrong-password'),
          409: errorAnswer('no-password: no panel password is set on this unit, or its file is unusable; the message says how to set one'),
          429: errorAnswer('too-many-attempts: too many wrong passwords from this address; the Retry-After header says when to try again'),
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const result = await access.login(request.ip, request.body.password);
      switch (result.kind) {
        case 'ok':
          setSessionCookie(reply, result.session.id);
          return { csrfToken: result.session.csrfToken };
        case 'wrong-password':
          return reply.code(401).send({ error: 'wrong-password', message: 'wrong password' });
        case 'no-password':
          return reply.code(409).send({ error: 'no-password', message: `${result.reason}. ${HOW_TO_SET_PASSWORD}` });
        case 'rate-limited': {
          const seconds = Math.ceil(result.retryAfterMs / 1000);
          return reply
            .code(429)
            .header('retry-after', String(seconds))
            .send({ error: 'too-many-attempts', message: `too many wrong passwords from this address; try again in ${seconds} s` });
        }
      }
    },
  );

  app.delete(
    '/api/session',
    {
      // Checks its own session: logging out without one is not an error.
      config: { access: 'open' },
      schema: {
        tags: ['session'],
        summary: 'Log out: ends the session (needs x-csrf-token when logged in)',
        response: {
          200: described(SessionStateSchema, 'logged out (also when there was no session)'),
          403: errorAnswer(`csrf: logged in, but the ${CSRF_HEADER} header is missing or is not this session's token`),
        },
      },
    },
    async (request, reply) => {
      const sessionId = request.cookies[SESSION_COOKIE];
      const decision = await access.authorize(sessionId, 'DELETE', request.headers[CSRF_HEADER]);
      if (decision.kind === 'csrf') return reply.code(403).send({ error: 'csrf', message: decision.reason });
      access.logout(sessionId);
      setSessionCookie(reply, '', true);
      const { passwordSet } = await access.describe(undefined);
      return { authenticated: false, passwordSet, ...(passwordSet ? {} : { howToSetPassword: HOW_TO_SET_PASSWORD }) };
    },
  );
}
