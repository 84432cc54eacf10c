import type { ApiScope } from './app.js';
import { described, STORAGE_ANSWERS } from './schemas.js';
import { DoNotDisturbBodySchema, DoNotDisturbStatusSchema, type DoNotDisturbSource, type DoNotDisturbStatus } from '../calls/do-not-disturb.js';

/** The do-not-disturb switch as the API uses it (DoNotDisturb fits). */
export interface DoNotDisturbControl {
  status(): DoNotDisturbStatus;
  set(enabled: boolean, by: DoNotDisturbSource): Promise<DoNotDisturbStatus>;
}

/**
 * GET/PUT /api/do-not-disturb: people (logged in, like every route here) read and switch this
 * unit's do-not-disturb. While on, calls to the unit are answered busy; it survives restarts.
 */
export function registerDoNotDisturbRoutes(app: ApiScope, doNotDisturb: DoNotDisturbControl): void {
  app.get(
    '/api/do-not-disturb',
    {
      schema: {
        tags: ['unit'],
        summary: "This unit's do-not-disturb: while on, calls to it are answered busy instead of ringing",
        response: { 200: described(DoNotDisturbStatusSchema, 'the do-not-disturb state') },
      },
    },
    async () => doNotDisturb.status(),
  );

  app.put(
    '/api/do-not-disturb',
    {
      schema: {
        tags: ['unit'],
        summary: 'Switch do-not-disturb on or off; the answer comes once the new state is stored',
        body: DoNotDisturbBodySchema,
        response: {
          200: described(DoNotDisturbStatusSchema, 'the do-not-disturb state now (unchanged when it already was so)'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (request) => doNotDisturb.set(request.body.enabled, 'api'),
  );
}
