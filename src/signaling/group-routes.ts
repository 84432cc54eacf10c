import Type from 'typebox';
import type { ApiScope } from './app.js';
import { STORAGE_ANSWERS, UserNameSchema, described, errorAnswer } from './schemas.js';
import { GROUP_MEMBERS_MAX, GroupError, type GroupStore } from '../groups/group-store.js';

export const GroupSchema = Type.Object({
  name: Type.String({ description: 'the group name, as `to` in POST /api/signal/initiate and as a button or keypad target' }),
  members: Type.Array(Type.String(), { description: 'users of the site, on any unit' }),
  updatedAt: Type.String({ description: 'when it last changed (ISO 8601, on the unit that changed it)' }),
  updatedBy: Type.String({ description: 'the unit that changed it last' }),
});

export const GroupNameParamsSchema = Type.Object({ name: UserNameSchema });
export const GroupBodySchema = Type.Object(
  { members: Type.Array(UserNameSchema, { minItems: 1, maxItems: GROUP_MEMBERS_MAX, description: 'users of the site (on any unit)' }) },
  { additionalProperties: false },
);

/** What the group routes need: the site's groups, and which names are users (a group may not take a user's name). */
export interface GroupRouteDeps {
  groups: GroupStore;
  isUser: (name: string) => boolean;
}

/**
 * The site's call groups (people's routes). A change made on any unit spreads to every unit
 * (src/groups/group-sync.ts); all units answer the same list once they have seen each other.
 *   GET    /api/groups         the groups
 *   PUT    /api/groups/:name   create or replace one
 *   DELETE /api/groups/:name   delete one
 */
export function registerGroupRoutes(app: ApiScope, deps: GroupRouteDeps): void {
  const { groups } = deps;
  app.get(
    '/api/groups',
    {
      schema: {
        tags: ['users'],
        summary: "The site's call groups: calling one rings every member's unit; the first to answer gets the call",
        response: { 200: described(Type.Object({ groups: Type.Array(GroupSchema) }), 'the groups, by name') },
      },
    },
    async () => ({ groups: groups.list() }),
  );

  app.put(
    '/api/groups/:name',
    {
      schema: {
        tags: ['users'],
        summary: 'Create or replace a call group (for the whole site: it spreads to every unit)',
        params: GroupNameParamsSchema,
        body: GroupBodySchema,
        response: {
          200: described(Type.Object({ group: GroupSchema }), 'the group as stored'),
          400: errorAnswer('bad-request: the name or a member is not in the accepted form, or there are no members'),
          409: errorAnswer('name-taken: a user of the site has this name (calling it would ring the user)'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (request, reply) => {
      if (deps.isUser(request.params.name)) {
        return reply.code(409).send({ error: 'name-taken', message: `"${request.params.name}" is a user of the site; a group needs another name` });
      }
      try {
        return { group: await groups.put(request.params.name, request.body.members) };
      } catch (error) {
        // The schema already refuses empty names and lists; anything put() refuses is the same kind of request error.
        if (error instanceof GroupError) return reply.code(400).send({ error: 'bad-request', message: error.message });
        throw error;
      }
    },
  );

  app.delete(
    '/api/groups/:name',
    {
      schema: {
        tags: ['users'],
        summary: 'Delete a call group (on every unit)',
        params: GroupNameParamsSchema,
        response: {
          200: described(Type.Object({ deleted: Type.String({ description: 'the group deleted' }) }), 'deleted'),
          404: errorAnswer('unknown-group: there is no such group'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (request, reply) => {
      const existing = groups.get(request.params.name);
      if (!existing) return reply.code(404).send({ error: 'unknown-group', message: `no group "${request.params.name}"` });
      try {
        await groups.remove(existing.name);
      } catch (error) {
        if (error instanceof GroupError) return reply.code(404).send({ error: 'unknown-group', message: error.message });
        throw error;
      }
      return { deleted: existing.name };
    },
  );
}
