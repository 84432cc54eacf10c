import type { ApiScope } from './app.js';
import { described, errorAnswer, STORAGE_ANSWERS } from './schemas.js';
import { SelfTestRefused, StoredSelfTestSchema, type StoredSelfTest } from '../selftest/unit-selftest.js';
import Type from 'typebox';

/** The unit's acoustic self-test as the API uses it (UnitSelfTest fits). */
export interface SelfTestControl {
  latest(): StoredSelfTest | null;
  run(): Promise<StoredSelfTest>;
}

/**
 * GET/POST /api/selftest: people read the last acoustic self-test and run a new one (about 7 s:
 * a rising whistle and a hiss from the speaker). An installer runs it once the box is on the wall.
 */
export function registerSelfTestRoutes(app: ApiScope, selfTest: SelfTestControl): void {
  app.get(
    '/api/selftest',
    {
      schema: {
        tags: ['unit'],
        summary: 'The last acoustic self-test of this unit, with its time',
        response: { 200: described(Type.Object({ selfTest: Type.Union([StoredSelfTestSchema, Type.Null()]) }), 'the last self-test, null: never run') },
      },
    },
    async () => ({ selfTest: selfTest.latest() }),
  );

  app.post(
    '/api/selftest',
    {
      schema: {
        tags: ['unit'],
        summary: 'Run the acoustic self-test now: the speaker plays a sweep and noise, the microphone records; the answer comes with the report (about 7 s)',
        response: {
          200: described(StoredSelfTestSchema, 'the report, also kept for the status'),
          409: errorAnswer('busy: the unit is in a call, or a self-test is running; interrupted: a call started during the test'),
          ...STORAGE_ANSWERS,
          503: errorAnswer('no-audio: the sound devices are not open; storage-unavailable: the report could not be kept'),
        },
      },
    },
    async (_request, reply) => {
      try {
        return await selfTest.run();
      } catch (error) {
        if (error instanceof SelfTestRefused) {
          return reply.code(error.reason === 'no-audio' ? 503 : 409).send({ error: error.reason, message: error.message });
        }
        throw error;
      }
    },
  );
}
