import Type from 'typebox';
import type { ApiScope } from './app.js';
import { described, errorAnswer } from './schemas.js';
import { PageError, type PagingService, type PageSource } from '../paging/paging-service.js';
import { wavToMono48k } from '../sounds/ring-tone.js';
import { samplesSound } from '../streaming/local-sound.js';

/** Longest recorded page (it is held in memory and sent in the request: 30 s is 3.8 MB as base64). */
export const MAX_PAGE_WAV_SECONDS = 30;
const PAGE_BODY_LIMIT = 4 * 1024 * 1024;

const PageMemberSchema = Type.Object({
  unitId: Type.String(),
  unitName: Type.String(),
  outcome: Type.String({ description: 'playing, do-not-disturb (an announcement to a unit with do-not-disturb on), page-playing (a page of equal or higher priority plays there), no-speaker, refused, unreachable, offline, dropped (it stopped reporting that it hears the page)' }),
  via: Type.Optional(Type.Union([Type.Literal('multicast'), Type.Literal('unicast'), Type.Literal('both')], { description: 'how the page reaches it: both while it is found out whether it hears the multicast group' })),
});
export const PageViewSchema = Type.Object({
  id: Type.String(),
  group: Type.String(),
  priority: Type.Union([Type.Literal('announcement'), Type.Literal('emergency')]),
  direction: Type.Union([Type.Literal('outgoing'), Type.Literal('incoming')]),
  origin: Type.String({ description: 'the paging unit' }),
  phase: Type.Union([Type.Literal('playing'), Type.Literal('ended')]),
  endReason: Type.Union([Type.String(), Type.Null()]),
  members: Type.Array(PageMemberSchema),
});
const PageStatusSchema = Type.Object({
  outgoing: Type.Union([PageViewSchema, Type.Null()]),
  incoming: Type.Union([PageViewSchema, Type.Null()]),
  recent: Type.Array(PageViewSchema),
});
const PageBodySchema = Type.Object(
  {
    group: Type.String({ minLength: 1, maxLength: 64, description: 'the call group whose members\' units play the page' }),
    priority: Type.Optional(Type.Union([Type.Literal('announcement'), Type.Literal('emergency')], { description: 'announcement (default): mixed over calls, silenced by do-not-disturb; emergency: always plays' })),
    wav: Type.Optional(Type.String({ minLength: 1, maxLength: PAGE_BODY_LIMIT, description: `the announcement, a WAV file (any rate, depth and channels; at most ${MAX_PAGE_WAV_SECONDS} s), base64` })),
    microphone: Type.Optional(Type.Boolean({ description: 'true instead of wav: page this unit\'s microphone live until POST /api/page/end (at most 5 minutes)' })),
  },
  { additionalProperties: false },
);
const PAGE_ERROR_STATUS: Record<PageError['code'], 404 | 409 | 503> = { 'unknown-group': 404, 'no-members': 409, 'page-playing': 409, 'no-media': 503, 'unknown-page': 404 };

/**
 * Paging (people's routes):
 *   GET  /api/page       the page this unit sends or plays, and the last ones
 *   POST /api/page       page a group with a recorded announcement
 *   POST /api/page/end   end this unit's page now
 */
export function registerPageRoutes(app: ApiScope, paging: PagingService): void {
  app.get(
    '/api/page',
    { schema: { tags: ['signal'], summary: 'The page this unit sends, the one it plays, and the last pages', response: { 200: described(PageStatusSchema, 'paging state') } } },
    async () => paging.status(),
  );

  app.post(
    '/api/page',
    {
      bodyLimit: PAGE_BODY_LIMIT,
      schema: {
        tags: ['signal'],
        summary: "Page a group: the announcement plays on every member's unit at once, encrypted with a fresh key per page",
        body: PageBodySchema,
        response: {
          200: described(Type.Object({ page: PageViewSchema }), 'the page, with how each member unit took it'),
          400: errorAnswer('bad-request / bad-wav: the body or the WAV cannot be used, or both or neither of wav and microphone were given'),
          404: errorAnswer('unknown-group: no such call group'),
          409: errorAnswer('no-members: no member is on another unit; page-playing: this unit is already paging'),
          503: errorAnswer('no-media: this unit has no media socket'),
        },
      },
    },
    async (request, reply) => {
      const { group, wav, microphone } = request.body;
      const priority = request.body.priority ?? 'announcement';
      if ((wav === undefined) === (microphone !== true)) {
        return reply.code(400).send({ error: 'bad-request', message: 'give either wav (a recording) or microphone: true (live), not both' });
      }
      let source: PageSource | null = null;
      if (wav !== undefined) {
        try {
          source = samplesSound(await wavToMono48k(Buffer.from(wav, 'base64'), 'the page\'s wav', MAX_PAGE_WAV_SECONDS, 'a page'));
        } catch (error) {
          return reply.code(400).send({ error: 'bad-wav', message: (error as Error).message });
        }
      }
      try {
        return { page: source ? await paging.startPage(group, priority, source) : await paging.startMicrophonePage(group, priority) };
      } catch (error) {
        if (error instanceof PageError) return reply.code(PAGE_ERROR_STATUS[error.code]).send({ error: error.code, message: error.message });
        throw error;
      }
    },
  );

  app.post(
    '/api/page/end',
    {
      schema: {
        tags: ['signal'],
        summary: "End this unit's page now: every member stops playing it",
        response: { 200: described(Type.Object({ page: PageViewSchema }), 'the page, ended'), 404: errorAnswer('unknown-page: this unit is not paging') },
      },
    },
    async (_request, reply) => {
      try {
        return { page: paging.endPage() };
      } catch (error) {
        if (error instanceof PageError) return reply.code(404).send({ error: error.code, message: error.message });
        throw error;
      }
    },
  );
}
