/*
 * pi-intercom's full-duplex audio engine over alsa-lib, without Node: two real-time threads (one
 * per device, each paced by its own device's clock), lock-free rings to and from the service, and
 * the playback reference for every captured sample. addon.c binds it to Node-API.
 *
 * The service (one JavaScript thread) and the two device threads share only:
 *  - the capture ring (capture thread -> service): whole codec frames, each with its playback
 *    reference and the time its first sample was captured;
 *  - the playback ring (service -> playback thread): a sample timeline; the playback thread plays
 *    what the service wrote for each moment, or concealment when the service is late, and never
 *    waits for it;
 *  - counters and flags (C11 atomics), and one wake-up callback that must be async-signal-safe
 *    (uv_async_send).
 */
#ifndef INTERCOM_ALSA_ENGINE_H
#define INTERCOM_ALSA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENGINE_MAX_FRAME_SAMPLES 1920

typedef struct engine engine;

typedef struct {
  /* ALSA PCM names; NULL leaves that direction out (e.g. `intercom send` captures only). */
  const char *capture_device;
  const char *playback_device;
  unsigned rate;             /* 48000 */
  unsigned period_frames;    /* device period: 240 (5 ms) */
  unsigned playback_periods; /* periods in the playback device's buffer: its latency */
  unsigned capture_periods;  /* periods in the capture device's buffer: headroom only */
  unsigned frame_samples;    /* the codec frame: capture is delivered in these units */
  int realtime_priority;     /* SCHED_FIFO priority of the device threads; 0: none */
} engine_config;

/* Event flags, set by the device threads and taken by the service. */
enum {
  ENGINE_EVENT_CAPTURE = 1,  /* captured frames are waiting */
  ENGINE_EVENT_PLAYBACK = 2, /* the playback ring is at or below its low-water mark */
  ENGINE_EVENT_ERROR = 4,    /* a device failed; the engine stopped (engine_error says why) */
  ENGINE_EVENT_STOPPED = 8,  /* engine_stop finished: the device threads are gone */
};

enum { ENGINE_IDLE = 0, ENGINE_RUNNING = 1, ENGINE_STOPPING = 2, ENGINE_WEDGED = 3 };

typedef struct {
  uint64_t read_position;  /* playback ring: next sample the device thread takes */
  uint64_t write_position; /* playback ring: next sample the service writes */
  /* The device's output at `at_ns`: sample `playing_position` of the timeline was leaving the
   * speaker (by ALSA's accounting of the device buffer). 0/0 before the first period. */
  uint64_t playing_position;
  int64_t at_ns;
} engine_playback_state;

typedef struct {
  uint64_t capture_periods;
  uint64_t playback_periods;
  uint64_t capture_overruns;   /* device overruns (the capture thread was late) */
  uint64_t playback_underruns; /* device underruns (the playback thread was late): xruns */
  uint64_t starved_samples;    /* samples the service had not written in time: concealed */
  uint64_t capture_frames_dropped; /* frames the service did not collect in time (ring full) */
  int64_t reference_offset;    /* playback timeline index minus capture index, applied */
  int64_t reference_offset_raw; /* the latest measurement, before smoothing */
  uint64_t reference_offset_changes; /* times the applied offset was set (once per start, then drift) */
  uint32_t capture_delay_frames;  /* capture device buffer fill after the last read */
  uint32_t playback_delay_frames; /* playback device buffer fill after the last write */
  bool realtime;               /* the device threads got real-time priority */
  bool running;
} engine_stats;

/* Opens (and configures) the devices; NULL with `error` filled on failure. The engine is stopped. */
engine *engine_open(const engine_config *config, void (*wake)(void *), void *wake_context, char *error, size_t error_size);
/* Starts the device threads (capture and playback run until engine_stop); what the service wrote
 * since the engine stopped primes the playback device. 0 or a negative errno. */
int engine_start(engine *e, char *error, size_t error_size);
/* Asks the device threads to stop and returns at once; ENGINE_EVENT_STOPPED follows when they
 * have (then nothing runs: an idle unit costs nothing). */
void engine_stop(engine *e);
int engine_state(engine *e);
/* Stops (waiting for it) and frees everything. */
void engine_close(engine *e);

unsigned engine_take_events(engine *e);
/* Copies the message of the failure that stopped the engine ("" when none). */
void engine_error(engine *e, char *out, size_t size);

/* Whether captured frames are kept for the service (false: read and dropped, no wake-ups). */
void engine_set_capture_wanted(engine *e, bool wanted);
/* One captured frame into mic and reference (frame_samples each), with the capture time and device
 * position of its first sample; false when none is waiting. */
bool engine_read_capture(engine *e, int16_t *mic, int16_t *reference, int64_t *captured_at_ns, uint64_t *position);

/* Appends samples to the playback timeline at the write position; returns how many fitted. */
size_t engine_write_playback(engine *e, const int16_t *samples, size_t count);
/* Moves the write position forward (to the read position after the service fell behind). */
void engine_skip_playback(engine *e, uint64_t to_position);
/* Wake the service when the playback ring holds this many samples or fewer. */
void engine_set_low_water(engine *e, unsigned samples);
void engine_playback_get(engine *e, engine_playback_state *status);

void engine_stats_get(engine *e, engine_stats *stats);
int64_t engine_now_ns(void);

#endif
