import type { ApiScope } from './app.js';
import { described, STORAGE_ANSWERS } from './schemas.js';
import { AudioLevelsBodySchema, AudioLevelsStatusSchema, type AudioLevelsChange, type AudioLevelsStatus, type LevelSource } from '../audio/audio-levels.js';

/** The unit's levels as the API uses them (AudioLevels fits). */
export interface AudioLevelsControl {
  status(): AudioLevelsStatus;
  set(change: AudioLevelsChange, by: LevelSource): Promise<AudioLevelsStatus>;
  on(event: 'changed', listener: (status: AudioLevelsStatus) => void): unknown;
  off(event: 'changed', listener: (status: AudioLevelsStatus) => void): unknown;
}

/**
 * GET/PUT /api/audio/levels: people read and set the speaker volume, the microphone gain and the
 * microphone mute. Volume and gain are stored before the answer and survive restarts.
 */
export function registerAudioLevelsRoutes(app: ApiScope, levels: AudioLevelsControl): void {
  app.get(
    '/api/audio/levels',
    {
      schema: {
        tags: ['unit'],
        summary: "This unit's speaker volume, microphone gain and microphone mute, and where each is applied (the card's mixer or software)",
        response: { 200: described(AudioLevelsStatusSchema, 'the levels') },
      },
    },
    async () => levels.status(),
  );

  app.put(
    '/api/audio/levels',
    {
      schema: {
        tags: ['unit'],
        summary: 'Set the volume, the microphone gain and/or the mute; the answer comes once new levels are stored and applied',
        body: AudioLevelsBodySchema,
        response: {
          200: described(AudioLevelsStatusSchema, 'the levels now'),
          ...STORAGE_ANSWERS,
        },
      },
    },
    async (request) => levels.set(request.body, 'api'),
  );
}
