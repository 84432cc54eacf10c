/*
 * The duplex audio engine (see engine.h). Rules the device threads keep:
 *  - they never take a lock, never allocate, and never wait for the service: the playback thread
 *    plays concealment when the service is late, the capture thread drops a frame the service has
 *    no room for;
 *  - each thread is paced only by its own device (a blocking read or write of one period), so two
 *    sound cards with different clocks each run at their own rate; the reference alignment follows
 *    them through timestamps;
 *  - a failure ends the thread with a message for the service; xruns are recovered and counted;
 *  - stopping interrupts a blocked read or write with a signal (ENGINE_WAKE_SIGNAL), since a
 *    device that stopped delivering (a FIFO-backed test device whose writer stalled, a wedged
 *    driver) would otherwise keep the thread in the call for ever.
 *
 * The playback timeline: every sample the playback thread sends to the device has a position
 * (0, 1, 2, ...), the same position it had in the playback ring and in the played history. The
 * service writes the ring ahead of the device; the device thread takes one period per period.
 * The capture thread stamps each period with the time its last sample was captured and looks up
 * which playback position was leaving the speaker at that time (ALSA's delay accounting on both
 * devices); the difference between the two positions, smoothed, is the reference offset.
 */
#define _GNU_SOURCE
#include "engine.h"

#include <alsa/asoundlib.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAPTURE_RING_FRAMES 32                 /* 640 ms of 20 ms frames */
#define PLAYBACK_RING_SAMPLES (1u << 15)       /* 683 ms */
#define HISTORY_SAMPLES (1u << 16)             /* 1.37 s of what was played */
#define OFFSET_WINDOW 32                       /* periods the reference offset is the median of */
/* A change of the applied offset shifts the reference under the echo canceller, so it is made only
 * for what lasts: a card whose timestamps jitter by a few ms (a busy machine, a card that delivers
 * in large chunks) moved a 0.5 ms / 160 ms rule mid-burst; 2 ms of drift between two cards' clocks
 * (at 100 ppm, after 20 s) is well inside what the canceller's delay tracker follows. */
#define OFFSET_DEADBAND 96                     /* 2 ms: smaller changes are timestamp noise */
#define OFFSET_PERSISTENCE 100                 /* periods (0.5 s) a larger change must last to be applied */
#define CAPTURE_CLOCK_BUCKETS 16               /* capture clock: minima of 125 ms buckets over 2 s */
#define CAPTURE_CLOCK_BUCKET_NS 125000000LL
#define STOP_TIMEOUT_NS 2000000000LL
#define FADE_SAMPLES 48

#define ENGINE_WAKE_SIGNAL (SIGRTMIN + 5)

typedef struct {
  int16_t mic[ENGINE_MAX_FRAME_SAMPLES];
  int16_t reference[ENGINE_MAX_FRAME_SAMPLES];
  int64_t at_ns;
  uint64_t position;
} capture_slot;

struct engine {
  engine_config config;
  char capture_name[256];
  char playback_name[256];
  snd_pcm_t *capture;
  snd_pcm_t *playback;
  snd_pcm_uframes_t capture_buffer;
  snd_pcm_uframes_t playback_buffer;
  unsigned period;

  void (*wake)(void *);
  void *wake_context;
  atomic_uint events;
  pthread_mutex_t error_lock; /* the service thread only; device threads use try-lock */
  char error[640];

  pthread_t capture_thread;
  pthread_t playback_thread;
  bool capture_thread_live;
  bool playback_thread_live;
  atomic_bool running;   /* what the device threads check */
  atomic_int state;      /* ENGINE_IDLE, _RUNNING, _STOPPING, _WEDGED */

  /* capture ring: slots[head % N] written by the capture thread, [tail % N] read by the service */
  capture_slot *slots;
  atomic_uint head;
  atomic_uint tail;
  atomic_bool capture_wanted;

  /* playback ring and history, one timeline */
  int16_t *ring;
  int16_t *history;
  atomic_uint_fast64_t read_position;  /* playback thread */
  atomic_uint_fast64_t write_position; /* service */
  atomic_uint low_water;
  atomic_bool service_wrote;           /* since start: starvation counts only once the service plays */
  atomic_bool playback_wanted;         /* the service was told the ring is low and has not answered */

  /* the playback device's output: position leaving the speaker at a time (relaxed pair, seqlock) */
  atomic_uint timeline_sequence;
  atomic_uint_fast64_t timeline_position;
  atomic_int_fast64_t timeline_ns;

  /* statistics */
  atomic_uint_fast64_t capture_periods;
  atomic_uint_fast64_t playback_periods;
  atomic_uint_fast64_t capture_overruns;
  atomic_uint_fast64_t playback_underruns;
  atomic_uint_fast64_t starved_samples;
  atomic_uint_fast64_t dropped_frames;
  atomic_int_fast64_t offset_applied;
  atomic_uint_fast64_t offset_changes;
  atomic_int_fast64_t offset_raw;
  atomic_uint capture_delay;
  atomic_uint playback_delay;
  atomic_bool realtime;

  /* capture thread only */
  int16_t period_mic[ENGINE_MAX_FRAME_SAMPLES];
  int16_t frame_mic[ENGINE_MAX_FRAME_SAMPLES];
  int16_t frame_reference[ENGINE_MAX_FRAME_SAMPLES];
  /* capture clock: when sample 0 would have been captured, per bucket of observations (minimum) */
  int64_t clock_minima[CAPTURE_CLOCK_BUCKETS];
  int64_t clock_bucket;
  unsigned clock_count;
  unsigned frame_fill;
  int64_t frame_at_ns;
  uint64_t frame_position;
  uint64_t capture_position;
  int64_t offsets[OFFSET_WINDOW];
  unsigned offset_count;
  unsigned offset_disagreements;
  bool offset_valid;

  /* playback thread only */
  int16_t period_out[ENGINE_MAX_FRAME_SAMPLES];
  int16_t last_sample;
  /* A device without delay accounting is played on the system clock from this origin (see playback_main). */
  bool unpaced;
  int64_t pace_origin_ns;
  uint64_t pace_origin_position;
};

int64_t engine_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* ---------- errors and wake-ups ---------- */

static void raise_events(engine *e, unsigned events) {
  atomic_fetch_or(&e->events, events);
  e->wake(e->wake_context);
}

/* From a device thread: record why it stopped (first failure wins) and tell the service. */
static void fail(engine *e, const char *what, const char *device, int error) {
  if (pthread_mutex_trylock(&e->error_lock) == 0) {
    if (e->error[0] == '\0') snprintf(e->error, sizeof e->error, "%s \"%s\": %s", what, device, snd_strerror(error));
    pthread_mutex_unlock(&e->error_lock);
  }
  raise_events(e, ENGINE_EVENT_ERROR);
}

void engine_error(engine *e, char *out, size_t size) {
  pthread_mutex_lock(&e->error_lock);
  snprintf(out, size, "%s", e->error);
  pthread_mutex_unlock(&e->error_lock);
}

unsigned engine_take_events(engine *e) { return atomic_exchange(&e->events, 0); }

/* alsa-lib reports through a callback that prints to stderr by default: the service keeps its
 * own words instead (each failure is returned with snd_strerror), so silence it. */
static void quiet_alsa(const char *file, int line, const char *function, int err, const char *fmt, ...) {
  (void)file; (void)line; (void)function; (void)err; (void)fmt;
}

static void on_wake_signal(int sig) { (void)sig; }

static pthread_once_t process_setup = PTHREAD_ONCE_INIT;
static void setup_process(void) {
  snd_lib_error_set_handler(quiet_alsa);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_wake_signal; /* no SA_RESTART: a blocked read or write returns EINTR */
  sigemptyset(&action.sa_mask);
  sigaction(ENGINE_WAKE_SIGNAL, &action, NULL);
}

/* ---------- devices ---------- */

static int configure(snd_pcm_t *pcm, const engine_config *config, unsigned periods, snd_pcm_uframes_t *buffer, unsigned *period,
                     char *error, size_t error_size, const char *name) {
  snd_pcm_hw_params_t *hw;
  snd_pcm_sw_params_t *sw;
  snd_pcm_hw_params_alloca(&hw);
  snd_pcm_sw_params_alloca(&sw);
  int err;
  const char *step = "hw_params_any";
  if ((err = snd_pcm_hw_params_any(pcm, hw)) < 0) goto failed;
  step = "interleaved access";
  if ((err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0) goto failed;
  step = "S16_LE";
  if ((err = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0) goto failed;
  step = "1 channel";
  if ((err = snd_pcm_hw_params_set_channels(pcm, hw, 1)) < 0) goto failed;
  snd_pcm_hw_params_set_rate_resample(pcm, hw, 1);
  step = "48 kHz";
  if ((err = snd_pcm_hw_params_set_rate(pcm, hw, config->rate, 0)) < 0) goto failed;
  snd_pcm_uframes_t period_size = config->period_frames;
  step = "period size";
  if ((err = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period_size, NULL)) < 0) goto failed;
  snd_pcm_uframes_t buffer_size = period_size * periods;
  step = "buffer size";
  if ((err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer_size)) < 0) goto failed;
  step = "hw_params";
  if ((err = snd_pcm_hw_params(pcm, hw)) < 0) goto failed;
  snd_pcm_hw_params_get_period_size(hw, &period_size, NULL);
  snd_pcm_hw_params_get_buffer_size(hw, &buffer_size);
  /* A card that cannot do the period asked for gets the nearest it offers (frames are assembled
   * from any period size); only absurd ones are refused. */
  if (period_size == 0 || period_size > ENGINE_MAX_FRAME_SAMPLES || buffer_size < 2 * period_size) {
    snprintf(error, error_size, "device \"%s\" offers no usable period (%lu frames, buffer %lu)", name, (unsigned long)period_size, (unsigned long)buffer_size);
    return -EINVAL;
  }
  step = "sw_params";
  if ((err = snd_pcm_sw_params_current(pcm, sw)) < 0) goto failed;
  snd_pcm_sw_params_set_avail_min(pcm, sw, period_size);
  /* Started explicitly once primed, never by a write. */
  snd_pcm_uframes_t boundary = 0;
  snd_pcm_sw_params_get_boundary(sw, &boundary);
  snd_pcm_sw_params_set_start_threshold(pcm, sw, boundary);
  if ((err = snd_pcm_sw_params(pcm, sw)) < 0) goto failed;
  *buffer = buffer_size;
  *period = (unsigned)period_size;
  return 0;
failed:
  snprintf(error, error_size, "cannot set up \"%s\" (%s): %s", name, step, snd_strerror(err));
  return err;
}

/* "hw:..." gets the plug layer, so a card that is not natively 48 kHz mono S16 still opens. */
static void pcm_name(const char *wanted, char *out, size_t size) {
  if (strncmp(wanted, "hw:", 3) == 0) snprintf(out, size, "plug%s", wanted);
  else snprintf(out, size, "%s", wanted);
}

static int open_device(const char *name, snd_pcm_stream_t stream, snd_pcm_t **pcm, char *error, size_t error_size) {
  /* NONBLOCK: a busy hw device answers EBUSY at once instead of waiting; I/O is blocking after. */
#ifdef SND_PCM_EINTR
  /* alsa-lib >= 1.2.9: a wait inside alsa-lib returns EINTR too, so stopping can interrupt it. */
  int err = snd_pcm_open(pcm, name, stream, SND_PCM_NONBLOCK | SND_PCM_EINTR);
#else
  int err = snd_pcm_open(pcm, name, stream, SND_PCM_NONBLOCK);
#endif
  if (err < 0) {
    snprintf(error, error_size, "cannot open %s device \"%s\": %s", stream == SND_PCM_STREAM_CAPTURE ? "capture" : "playback", name, snd_strerror(err));
    return err;
  }
  snd_pcm_nonblock(*pcm, 0);
  return 0;
}

engine *engine_open(const engine_config *config, void (*wake)(void *), void *wake_context, char *error, size_t error_size) {
  pthread_once(&process_setup, setup_process);
  if (config->frame_samples == 0 || config->frame_samples > ENGINE_MAX_FRAME_SAMPLES || config->period_frames == 0 || config->period_frames > ENGINE_MAX_FRAME_SAMPLES) {
    snprintf(error, error_size, "frames of %u samples or periods of %u frames are out of range", config->frame_samples, config->period_frames);
    return NULL;
  }
  engine *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(error, error_size, "out of memory");
    return NULL;
  }
  e->config = *config;
  e->wake = wake;
  e->wake_context = wake_context;
  pthread_mutex_init(&e->error_lock, NULL);
  e->slots = calloc(CAPTURE_RING_FRAMES, sizeof *e->slots);
  e->ring = calloc(PLAYBACK_RING_SAMPLES, sizeof *e->ring);
  e->history = calloc(HISTORY_SAMPLES, sizeof *e->history);
  if (!e->slots || !e->ring || !e->history) {
    snprintf(error, error_size, "out of memory");
    engine_close(e);
    return NULL;
  }
  atomic_store(&e->capture_wanted, true);
  atomic_store(&e->low_water, config->frame_samples);
  unsigned period = config->period_frames;
  if (config->capture_device) {
    pcm_name(config->capture_device, e->capture_name, sizeof e->capture_name);
    if (open_device(e->capture_name, SND_PCM_STREAM_CAPTURE, &e->capture, error, error_size) < 0 ||
        configure(e->capture, config, config->capture_periods, &e->capture_buffer, &period, error, error_size, e->capture_name) < 0) {
      engine_close(e);
      return NULL;
    }
  }
  if (config->playback_device) {
    pcm_name(config->playback_device, e->playback_name, sizeof e->playback_name);
    if (open_device(e->playback_name, SND_PCM_STREAM_PLAYBACK, &e->playback, error, error_size) < 0 ||
        configure(e->playback, config, config->playback_periods, &e->playback_buffer, &period, error, error_size, e->playback_name) < 0) {
      engine_close(e);
      return NULL;
    }
  }
  e->period = period;
  return e;
}

/* ---------- playback thread ---------- */

/* Fills period_out from the ring at the read position, concealing what the service has not
 * written (a short fade to silence), and advances the timeline; also keeps the history. */
static void take_period(engine *e, bool prefill) {
  const unsigned period = e->period;
  uint64_t position = atomic_load_explicit(&e->read_position, memory_order_relaxed);
  uint64_t written = atomic_load_explicit(&e->write_position, memory_order_acquire);
  unsigned available = written > position ? (unsigned)(written - position < period ? written - position : period) : 0;
  for (unsigned i = 0; i < available; i++) e->period_out[i] = e->ring[(position + i) & (PLAYBACK_RING_SAMPLES - 1)];
  if (available > 0) e->last_sample = e->period_out[available - 1];
  for (unsigned i = available; i < period; i++) {
    unsigned into = i - available;
    e->period_out[i] = into < FADE_SAMPLES ? (int16_t)(e->last_sample * (int)(FADE_SAMPLES - 1 - into) / FADE_SAMPLES) : 0;
  }
  if (available < period) {
    e->last_sample = 0;
    if (!prefill && atomic_load_explicit(&e->service_wrote, memory_order_relaxed)) atomic_fetch_add(&e->starved_samples, period - available);
  }
  for (unsigned i = 0; i < period; i++) e->history[(position + i) & (HISTORY_SAMPLES - 1)] = e->period_out[i];
  atomic_store_explicit(&e->read_position, position + period, memory_order_release);

  /* Wake the service when the ring runs low, once per crossing (again every 4 periods while starving). */
  int64_t fill = (int64_t)written - (int64_t)(position + period);
  if (!prefill && fill <= (int64_t)atomic_load_explicit(&e->low_water, memory_order_relaxed)) {
    bool asked = atomic_exchange(&e->playback_wanted, true);
    if (!asked || (fill < 0 && (position / period) % 4 == 0)) raise_events(e, ENGINE_EVENT_PLAYBACK);
  }
}

static void publish_timeline(engine *e) {
  uint64_t end = atomic_load_explicit(&e->read_position, memory_order_relaxed);
  snd_pcm_sframes_t delay = 0;
  if (e->unpaced) {
    /* Played on the system clock: what has been written beyond the origin and the time since. */
    int64_t played = (engine_now_ns() - e->pace_origin_ns) * (int64_t)e->config.rate / 1000000000LL;
    delay = (snd_pcm_sframes_t)((int64_t)(end - e->pace_origin_position) - played);
    if (delay < 0) delay = 0;
  } else if (snd_pcm_delay(e->playback, &delay) < 0 || delay < 0) {
    delay = 0;
  }
  if ((snd_pcm_uframes_t)delay > e->playback_buffer) delay = (snd_pcm_sframes_t)e->playback_buffer;
  atomic_store_explicit(&e->playback_delay, (unsigned)delay, memory_order_relaxed);
  unsigned sequence = atomic_load_explicit(&e->timeline_sequence, memory_order_relaxed);
  atomic_store_explicit(&e->timeline_sequence, sequence + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&e->timeline_position, end - (uint64_t)delay, memory_order_relaxed);
  atomic_store_explicit(&e->timeline_ns, engine_now_ns(), memory_order_relaxed);
  atomic_store_explicit(&e->timeline_sequence, sequence + 2, memory_order_release);
}

/* 1: the timeline is known; fills the position leaving the speaker at `at_ns`. */
static bool leaving_at(engine *e, int64_t at_ns, double *position) {
  for (int attempt = 0; attempt < 8; attempt++) {
    unsigned before = atomic_load_explicit(&e->timeline_sequence, memory_order_acquire);
    if (before & 1) continue;
    uint64_t timeline_position = atomic_load_explicit(&e->timeline_position, memory_order_relaxed);
    int64_t timeline_ns = atomic_load_explicit(&e->timeline_ns, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&e->timeline_sequence, memory_order_relaxed) != before) continue;
    if (before == 0) return false;
    *position = (double)timeline_position + (double)(at_ns - timeline_ns) * e->config.rate / 1e9;
    return true;
  }
  return false;
}

/* Writes one period, recovering from xruns; false when the thread must end. */
static bool write_period(engine *e) {
  unsigned done = 0;
  while (done < e->period) {
    snd_pcm_sframes_t n = snd_pcm_writei(e->playback, e->period_out + done, e->period - done);
    if (!atomic_load_explicit(&e->running, memory_order_relaxed)) return false;
    if (n >= 0) {
      done += (unsigned)n;
      continue;
    }
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n == -EPIPE || n == -ESTRPIPE) {
      atomic_fetch_add(&e->playback_underruns, 1);
      int err = snd_pcm_recover(e->playback, (int)n, 1);
      if (err < 0) {
        fail(e, "playback device failed after an underrun", e->playback_name, err);
        return false;
      }
      /* Prime again: the device restarts with its buffer full of silence. */
      continue;
    }
    fail(e, "playback device failed", e->playback_name, (int)n);
    return false;
  }
  if (snd_pcm_state(e->playback) == SND_PCM_STATE_PREPARED) {
    snd_pcm_sframes_t queued = 0;
    snd_pcm_delay(e->playback, &queued);
    if (queued >= (snd_pcm_sframes_t)(e->playback_buffer - e->period)) snd_pcm_start(e->playback);
  }
  return true;
}

static void *playback_main(void *argument) {
  engine *e = argument;
  pthread_setname_np(pthread_self(), "audio-playback");
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, ENGINE_WAKE_SIGNAL);
  pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
  int err = snd_pcm_prepare(e->playback);
  if (err < 0) {
    fail(e, "cannot prepare playback device", e->playback_name, err);
    goto out;
  }
  /* Prime the device buffer with all but one period, then keep it there: each blocking write of a
   * period waits until the device has played one. */
  unsigned prime = (unsigned)(e->playback_buffer / e->period) - 1;
  for (unsigned i = 0; i < prime && atomic_load(&e->running); i++) {
    take_period(e, true);
    if (!write_period(e)) goto out;
  }
  snd_pcm_start(e->playback);
  /* A device that keeps no account of its buffer (alsa-lib's null PCM under the file plugin, as
   * in the test rigs) reports no delay after priming and would take periods as fast as they come:
   * then the thread keeps to real time itself, one period per period, as a card's clock would,
   * and its timeline says so. A real card's blocking writes pace the thread; it is never held
   * back by this clock. */
  snd_pcm_sframes_t primed = 0;
  e->unpaced = snd_pcm_delay(e->playback, &primed) < 0 || primed <= 0;
  const int64_t period_ns = (int64_t)e->period * 1000000000LL / e->config.rate;
  const int64_t started_ns = engine_now_ns();
  e->pace_origin_ns = started_ns;
  e->pace_origin_position = atomic_load_explicit(&e->read_position, memory_order_relaxed) - (uint64_t)prime * e->period;
  publish_timeline(e);
  bool unpaced = e->unpaced;
  for (uint64_t k = 0; atomic_load_explicit(&e->running, memory_order_relaxed); k++) {
    if (unpaced) {
      int64_t due = started_ns + (int64_t)k * period_ns;
      struct timespec until = {.tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL};
      if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) continue;
    }
    take_period(e, false);
    if (!write_period(e)) break;
    publish_timeline(e);
    atomic_fetch_add_explicit(&e->playback_periods, 1, memory_order_relaxed);
  }
out:
  return NULL;
}

/* ---------- capture thread ---------- */

static int compare_int64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The offset from capture to playback positions, from the period just read (its last sample was
 * captured at end_ns): the median of recent measurements, changed only by more than the noise. */
static int64_t reference_offset(engine *e, int64_t end_ns, unsigned count) {
  double leaving;
  if (!e->playback || !leaving_at(e, end_ns, &leaving)) {
    e->offset_valid = false;
    e->offset_count = 0;
    return INT64_MIN;
  }
  int64_t raw = (int64_t)(leaving + 0.5) - (int64_t)(e->capture_position + count);
  atomic_store_explicit(&e->offset_raw, raw, memory_order_relaxed);
  e->offsets[e->offset_count % OFFSET_WINDOW] = raw;
  e->offset_count++;
  unsigned n = e->offset_count < OFFSET_WINDOW ? e->offset_count : OFFSET_WINDOW;
  int64_t sorted[OFFSET_WINDOW];
  memcpy(sorted, e->offsets, n * sizeof sorted[0]);
  qsort(sorted, n, sizeof sorted[0], compare_int64);
  int64_t median = sorted[n / 2];
  int64_t applied = atomic_load_explicit(&e->offset_applied, memory_order_relaxed);
  /* A change is applied once it has lasted: scheduling hiccups move the measurement for a few
   * periods, two devices' clocks drifting apart move it for good. Until the window is full the
   * median follows every measurement: the first periods' are the least sure (one read's time is
   * the whole capture clock, the speaker is still filling), and the first one alone was seen
   * 28 ms off, and more on a busy machine, for the half second a change takes to be applied. */
  const bool warming_up = e->offset_count <= OFFSET_WINDOW;
  e->offset_disagreements = llabs(median - applied) > OFFSET_DEADBAND ? e->offset_disagreements + 1 : 0;
  if (!e->offset_valid || e->offset_disagreements >= OFFSET_PERSISTENCE || (warming_up && median != applied)) {
    applied = median;
    e->offset_valid = true;
    e->offset_disagreements = 0;
    atomic_store_explicit(&e->offset_applied, applied, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->offset_changes, 1, memory_order_relaxed);
  }
  return applied;
}

/* A whole frame is ready: into the ring for the service, unless it has not collected for long. */
static void push_frame(engine *e) {
  e->frame_fill = 0;
  if (!atomic_load_explicit(&e->capture_wanted, memory_order_relaxed)) return;
  unsigned head = atomic_load_explicit(&e->head, memory_order_relaxed);
  unsigned tail = atomic_load_explicit(&e->tail, memory_order_acquire);
  if (head - tail >= CAPTURE_RING_FRAMES) {
    /* The service has not collected for a long time: this frame is lost. */
    atomic_fetch_add_explicit(&e->dropped_frames, 1, memory_order_relaxed);
    return;
  }
  capture_slot *slot = &e->slots[head % CAPTURE_RING_FRAMES];
  memcpy(slot->mic, e->frame_mic, e->config.frame_samples * sizeof slot->mic[0]);
  memcpy(slot->reference, e->frame_reference, e->config.frame_samples * sizeof slot->reference[0]);
  slot->at_ns = e->frame_at_ns;
  slot->position = e->frame_position;
  atomic_store_explicit(&e->head, head + 1, memory_order_release);
  raise_events(e, ENGINE_EVENT_CAPTURE);
}

/* One period read from the capture device, its last sample captured at end_ns: each sample with
 * its reference goes into the frame being assembled (a period may complete one frame and start
 * the next, when the card's period does not divide the frame). */
static void deliver_period(engine *e, const int16_t *mic, unsigned count, int64_t end_ns) {
  int64_t offset = reference_offset(e, end_ns, count);
  uint64_t played_end = atomic_load_explicit(&e->read_position, memory_order_acquire);
  const int64_t start_ns = end_ns - (int64_t)count * 1000000000LL / e->config.rate;
  for (unsigned i = 0; i < count; i++) {
    if (e->frame_fill == 0) {
      e->frame_at_ns = start_ns + (int64_t)i * 1000000000LL / e->config.rate;
      e->frame_position = e->capture_position + i;
    }
    int16_t reference = 0;
    if (offset != INT64_MIN) {
      int64_t at = (int64_t)(e->capture_position + i) + offset;
      if (at >= 0 && (uint64_t)at < played_end && (uint64_t)at + HISTORY_SAMPLES - 2 * ENGINE_MAX_FRAME_SAMPLES > played_end)
        reference = e->history[(uint64_t)at & (HISTORY_SAMPLES - 1)];
    }
    e->frame_mic[e->frame_fill] = mic[i];
    e->frame_reference[e->frame_fill] = reference;
    if (++e->frame_fill == e->config.frame_samples) push_frame(e);
  }
  e->capture_position += count;
}

/*
 * When the capture device captured sample `end_position - 1`, given that a read returned it at
 * `observed_ns`: a read can only return a sample after it was captured, so the earliest
 * observations (each read's time minus its position on the device's nominal rate) give the
 * device's clock, and later ones are scheduling delay. The minimum over the last 2 s, in
 * 125 ms buckets: a card that hands over several periods at once (a USB card's packets, the test
 * rigs' 20 ms pipe writes) or a thread woken late does not blur the time of its samples.
 */
static int64_t capture_clock(engine *e, uint64_t end_position, int64_t observed_ns) {
  const int64_t origin = observed_ns - (int64_t)(end_position * 1000000000ULL / e->config.rate);
  const int64_t bucket = observed_ns / CAPTURE_CLOCK_BUCKET_NS;
  if (e->clock_count == 0 || bucket != e->clock_bucket) {
    e->clock_bucket = bucket;
    e->clock_minima[e->clock_count++ % CAPTURE_CLOCK_BUCKETS] = origin;
  } else {
    int64_t *current = &e->clock_minima[(e->clock_count - 1) % CAPTURE_CLOCK_BUCKETS];
    if (origin < *current) *current = origin;
  }
  unsigned n = e->clock_count < CAPTURE_CLOCK_BUCKETS ? e->clock_count : CAPTURE_CLOCK_BUCKETS;
  int64_t earliest = e->clock_minima[0];
  for (unsigned i = 1; i < n; i++) if (e->clock_minima[i] < earliest) earliest = e->clock_minima[i];
  return earliest + (int64_t)(end_position * 1000000000ULL / e->config.rate);
}

static void *capture_main(void *argument) {
  engine *e = argument;
  pthread_setname_np(pthread_self(), "audio-capture");
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, ENGINE_WAKE_SIGNAL);
  pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
  int err = snd_pcm_prepare(e->capture);
  if (err >= 0) err = snd_pcm_start(e->capture);
  if (err < 0) {
    fail(e, "cannot start capture device", e->capture_name, err);
    goto out;
  }
  const unsigned period = e->period;
  while (atomic_load_explicit(&e->running, memory_order_relaxed)) {
    snd_pcm_sframes_t n = snd_pcm_readi(e->capture, e->period_mic, period);
    if (!atomic_load_explicit(&e->running, memory_order_relaxed)) break;
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n == -EPIPE || n == -ESTRPIPE) {
      atomic_fetch_add(&e->capture_overruns, 1);
      e->offset_valid = false;
      e->offset_count = 0;
      e->clock_count = 0; /* samples were lost: the positions start a new clock */
      err = snd_pcm_recover(e->capture, (int)n, 1);
      if (err >= 0) err = snd_pcm_start(e->capture);
      if (err < 0) {
        fail(e, "capture device failed after an overrun", e->capture_name, err);
        break;
      }
      continue;
    }
    if (n < 0) {
      fail(e, "capture device failed", e->capture_name, (int)n);
      break;
    }
    if (n == 0) continue;
    int64_t now = engine_now_ns();
    /* What the device has captured beyond this read: its last sample is that much older. A
     * device that reports a full buffer right after a blocking read keeps no account (alsa-lib's
     * file plugin over null, as in the test rigs): its data was just delivered. */
    snd_pcm_sframes_t pending = snd_pcm_avail(e->capture);
    if (pending < 0 || (snd_pcm_uframes_t)pending >= e->capture_buffer) pending = 0;
    atomic_store_explicit(&e->capture_delay, (unsigned)pending, memory_order_relaxed);
    const uint64_t end = e->capture_position + (uint64_t)n;
    deliver_period(e, e->period_mic, (unsigned)n, capture_clock(e, end, now - (int64_t)pending * 1000000000LL / e->config.rate));
    atomic_fetch_add_explicit(&e->capture_periods, 1, memory_order_relaxed);
  }
out:
  return NULL;
}

/* ---------- service side ---------- */

static int spawn_thread(engine *e, pthread_t *thread, void *(*main)(void *)) {
  /* The device threads start with every signal blocked but the wake-up one (they unblock it),
   * so the process's own signals (SIGINT, SIGCHLD, ...) keep going to Node's threads. */
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  int err = EPERM;
  if (e->config.realtime_priority > 0) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    struct sched_param param = {.sched_priority = e->config.realtime_priority};
    pthread_attr_setschedparam(&attr, &param);
    err = pthread_create(thread, &attr, main, e);
    pthread_attr_destroy(&attr);
    atomic_store(&e->realtime, err == 0);
  }
  /* Not allowed real-time scheduling (no CAP_SYS_NICE, no RLIMIT_RTPRIO): an ordinary thread. */
  if (err != 0) err = pthread_create(thread, NULL, main, e);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  return err;
}

int engine_start(engine *e, char *error, size_t error_size) {
  int state = atomic_load(&e->state);
  if (state == ENGINE_RUNNING) return 0;
  if (state != ENGINE_IDLE) {
    snprintf(error, error_size, state == ENGINE_STOPPING ? "the audio engine is still stopping" : "an audio device is wedged (it did not stop)");
    return state == ENGINE_STOPPING ? -EBUSY : -EIO;
  }
  pthread_mutex_lock(&e->error_lock);
  e->error[0] = '\0';
  pthread_mutex_unlock(&e->error_lock);
  atomic_store(&e->service_wrote, atomic_load(&e->write_position) > atomic_load(&e->read_position));
  atomic_store(&e->playback_wanted, false);
  atomic_store(&e->timeline_sequence, 0);
  e->frame_fill = 0;
  e->offset_valid = false;
  e->offset_count = 0;
  e->clock_count = 0;
  atomic_store(&e->running, true);
  atomic_store(&e->state, ENGINE_RUNNING);
  int err = 0;
  if (e->playback && (err = spawn_thread(e, &e->playback_thread, playback_main)) == 0) e->playback_thread_live = true;
  if (err == 0 && e->capture && (err = spawn_thread(e, &e->capture_thread, capture_main)) == 0) e->capture_thread_live = true;
  if (err != 0) {
    snprintf(error, error_size, "cannot start an audio thread: %s", strerror(err));
    engine_stop(e);
    return -err;
  }
  return 0;
}

/* Joins a device thread, interrupting whatever call it is blocked in; false if it never returns. */
static bool join_thread(pthread_t thread) {
  int64_t deadline = engine_now_ns() + STOP_TIMEOUT_NS;
  for (;;) {
    pthread_kill(thread, ENGINE_WAKE_SIGNAL);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 5000000;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec += 1;
      until.tv_nsec -= 1000000000L;
    }
    int err = pthread_timedjoin_np(thread, NULL, &until);
    if (err == 0) return true;
    if (err != ETIMEDOUT || engine_now_ns() > deadline) {
      pthread_detach(thread);
      return false;
    }
  }
}

/* Stopping happens on a thread of its own: a device thread can be blocked in a write that only
 * the other end of the device ends (alsa-lib's file plugin retries a FIFO write interrupted by a
 * signal), and the service's event loop, which may be that other end in a test, must not wait. */
static void *reap_main(void *argument) {
  engine *e = argument;
  bool clean = true;
  if (e->capture_thread_live) clean &= join_thread(e->capture_thread);
  if (e->playback_thread_live) clean &= join_thread(e->playback_thread);
  e->capture_thread_live = false;
  e->playback_thread_live = false;
  if (clean) {
    if (e->capture) snd_pcm_drop(e->capture);
    if (e->playback) snd_pcm_drop(e->playback);
    /* Nothing written for the old run plays in the next; the service may write the next run's
     * first frames before it starts (so the device is primed with them). */
    atomic_store(&e->write_position, atomic_load(&e->read_position));
  } else {
    /* A thread is still inside alsa-lib with its device: leave both alone (leaked at close). */
    e->capture = NULL;
    e->playback = NULL;
    pthread_mutex_lock(&e->error_lock);
    if (e->error[0] == '\0') snprintf(e->error, sizeof e->error, "an audio device did not stop within 2 s");
    pthread_mutex_unlock(&e->error_lock);
  }
  /* Last: once the state changes, engine_close may free the engine. */
  atomic_fetch_or(&e->events, ENGINE_EVENT_STOPPED);
  e->wake(e->wake_context);
  atomic_store(&e->state, clean ? ENGINE_IDLE : ENGINE_WEDGED);
  return NULL;
}

void engine_stop(engine *e) {
  int expected = ENGINE_RUNNING;
  if (!atomic_compare_exchange_strong(&e->state, &expected, ENGINE_STOPPING)) return;
  atomic_store(&e->running, false);
  pthread_t reaper;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&reaper, &attr, reap_main, e) != 0) reap_main(e);
  pthread_attr_destroy(&attr);
}

int engine_state(engine *e) { return atomic_load(&e->state); }

void engine_close(engine *e) {
  if (!e) return;
  engine_stop(e);
  /* The reaper uses the engine until it has said STOPPED. */
  while (atomic_load(&e->state) == ENGINE_STOPPING) {
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
  if (e->capture) snd_pcm_close(e->capture);
  if (e->playback) snd_pcm_close(e->playback);
  free(e->slots);
  free(e->ring);
  free(e->history);
  pthread_mutex_destroy(&e->error_lock);
  free(e);
}

void engine_set_capture_wanted(engine *e, bool wanted) { atomic_store(&e->capture_wanted, wanted); }

bool engine_read_capture(engine *e, int16_t *mic, int16_t *reference, int64_t *captured_at_ns, uint64_t *position) {
  unsigned tail = atomic_load_explicit(&e->tail, memory_order_relaxed);
  unsigned head = atomic_load_explicit(&e->head, memory_order_acquire);
  if (tail == head) return false;
  const capture_slot *slot = &e->slots[tail % CAPTURE_RING_FRAMES];
  memcpy(mic, slot->mic, e->config.frame_samples * sizeof *mic);
  memcpy(reference, slot->reference, e->config.frame_samples * sizeof *reference);
  *captured_at_ns = slot->at_ns;
  *position = slot->position;
  atomic_store_explicit(&e->tail, tail + 1, memory_order_release);
  return true;
}

size_t engine_write_playback(engine *e, const int16_t *samples, size_t count) {
  uint64_t position = atomic_load_explicit(&e->write_position, memory_order_relaxed);
  uint64_t read = atomic_load_explicit(&e->read_position, memory_order_acquire);
  if (position < read) position = read; /* late: what would have played is gone */
  uint64_t room = PLAYBACK_RING_SAMPLES - (position - read);
  if (count > room) count = (size_t)room;
  for (size_t i = 0; i < count; i++) e->ring[(position + i) & (PLAYBACK_RING_SAMPLES - 1)] = samples[i];
  atomic_store_explicit(&e->write_position, position + count, memory_order_release);
  atomic_store_explicit(&e->service_wrote, true, memory_order_relaxed);
  atomic_store_explicit(&e->playback_wanted, false, memory_order_relaxed);
  return count;
}

void engine_skip_playback(engine *e, uint64_t to_position) {
  uint64_t position = atomic_load(&e->write_position);
  uint64_t read = atomic_load(&e->read_position);
  if (to_position > read + PLAYBACK_RING_SAMPLES) to_position = read + PLAYBACK_RING_SAMPLES;
  if (to_position > position) atomic_store_explicit(&e->write_position, to_position, memory_order_release);
}

void engine_set_low_water(engine *e, unsigned samples) { atomic_store(&e->low_water, samples); }

void engine_playback_get(engine *e, engine_playback_state *status) {
  status->read_position = atomic_load(&e->read_position);
  status->write_position = atomic_load(&e->write_position);
  status->playing_position = 0;
  status->at_ns = 0;
  for (int attempt = 0; attempt < 8; attempt++) {
    unsigned before = atomic_load_explicit(&e->timeline_sequence, memory_order_acquire);
    if (before & 1) continue;
    uint64_t position = atomic_load_explicit(&e->timeline_position, memory_order_relaxed);
    int64_t at = atomic_load_explicit(&e->timeline_ns, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&e->timeline_sequence, memory_order_relaxed) != before) continue;
    if (before != 0) {
      status->playing_position = position;
      status->at_ns = at;
    }
    break;
  }
}

void engine_stats_get(engine *e, engine_stats *stats) {
  stats->capture_periods = atomic_load(&e->capture_periods);
  stats->playback_periods = atomic_load(&e->playback_periods);
  stats->capture_overruns = atomic_load(&e->capture_overruns);
  stats->playback_underruns = atomic_load(&e->playback_underruns);
  stats->starved_samples = atomic_load(&e->starved_samples);
  stats->capture_frames_dropped = atomic_load(&e->dropped_frames);
  stats->reference_offset = atomic_load(&e->offset_applied);
  stats->reference_offset_raw = atomic_load(&e->offset_raw);
  stats->reference_offset_changes = atomic_load(&e->offset_changes);
  stats->capture_delay_frames = atomic_load(&e->capture_delay);
  stats->playback_delay_frames = atomic_load(&e->playback_delay);
  stats->realtime = atomic_load(&e->realtime);
  stats->running = atomic_load(&e->running);
}
