import Type from 'typebox';
import type { ApiScope } from './app.js';
import { STORAGE_ANSWERS, described } from './schemas.js';
import { CALL_HISTORY_LIMIT, CallHistoryEntrySchema, type CallHistory } from '../history/call-history.js';

export const HistoryQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: `at most this many calls (1 to ${CALL_HISTORY_LIMIT}; default all)` })),
    missed: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { description: 'true: only missed calls' })),
  },
  { additionalProperties: false },
);

export const HistoryResponseSchema = Type.Object({
  calls: Type.Array(CallHistoryEntrySchema, { description: 'newest first' }),
  total: Type.Integer({ description: 'calls remembered' }),
  missed: Type.Integer({ description: 'of those, missed' }),
  capacity: Type.Integer({ description: 'how many calls the unit keeps (older ones are forgotten)' }),
});

/**
 * The unit's call history (people's routes, behind the login like the others):
 *   GET    /api/history   the last calls, newest first (?limit=, ?missed=true)
 *   DELETE /api/history   forget them all
 */
export function registerHistoryRoutes(app: ApiScope, history: CallHistory): void {
  app.get(
    '/api/history',
    {
      schema: {
        tags: ['signal'],
        summary: `Call history: the last ${CALL_HISTORY_LIMIT} calls of this unit (who, with whom, when, how long, how it ended, missed), newest first`,
        querystring: HistoryQuerySchema,
        response: { 200: described(HistoryResponseSchema, 'the calls, with counts') },
      },
    },
    async (request) => {
      const limit = request.query.limit === undefined ? undefined : Math.min(Number(request.query.limit), CALL_HISTORY_LIMIT);
      return { calls: history.list({ limit, missedOnly: request.query.missed === 'true' }), ...history.counts() };
    },
  );

  app.delete(
    '/api/history',
    {
      schema: {
        tags: ['signal'],
        summary: "Forget this unit's call history",
        response: {
          200: described(Type.Object({ cleared: Type.Integer({ description: 'calls forgotten' }) }), 'the history is empty now'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async () => ({ cleared: await history.clear() }),
  );
}
