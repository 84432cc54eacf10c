/*
 * Node-API binding of the duplex ALSA engine (engine.c) for pi-intercom's service.
 *
 *   open(options, onEvents) -> Promise<Engine>   opens the devices on a thread of its own (an
 *                                                ALSA open can block: a FIFO-backed test device
 *                                                without its other end), never on the event loop
 *   engine.start() / stop() / close() / state(): stop() returns at once and the STOPPED event
 *                          (8) follows when the device threads are gone
 *   engine.takeEvents() -> flags; onEvents() is called on the event loop when the device threads
 *                          raised any (coalesced: one call for many)
 *   engine.readCapture(mic, reference[, position: Float64Array(1)]) -> capture time (ms,
 *                          monotonic clock) or -1; the frame's device position into position[0]
 *   engine.writePlayback(pcm) -> samples taken; engine.skipPlayback(position); setLowWater(samples)
 *   engine.playbackStatus(out: Float64Array(4)) -> [read, write, playing position, its time in ms]
 *   engine.stats() -> object; engine.error() -> string
 *   nowMs() -> the engine's clock (CLOCK_MONOTONIC, the clock of libuv and performance.now())
 *   listDevices() -> { pcms: [{name, description, direction}], cards: [{index, id, name}] }
 *
 * Rules: arguments are checked here; a closed engine throws on use (close twice is a no-op); the
 * wake-up from the device threads is uv_async_send (async-signal-safe, no allocation).
 */
#define _GNU_SOURCE
#include <alsa/asoundlib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <uv.h>

#include "engine.h"

static const napi_type_tag ENGINE_TAG = {0x7069696e74657263ULL, 0x6f6d616c73616531ULL};

typedef struct handle {
  napi_env env;
  engine *engine;
  uv_async_t *async; /* freed by its close callback */
  napi_ref on_events;
  napi_async_context context;
  unsigned frame_samples;
  bool closed;
} handle;

/* ---------- errors ---------- */

static void throw_napi_failure(napi_env env, const char *call) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char message[256];
  snprintf(message, sizeof message, "Node-API call %.100s failed: %.100s", call,
           info != NULL && info->error_message != NULL ? info->error_message : "unknown error");
  napi_throw_error(env, "ERR_ALSA_ENGINE_NAPI", message);
}

#define NAPI_CALL(env, call)            \
  do {                                  \
    if ((call) != napi_ok) {            \
      throw_napi_failure((env), #call); \
      return NULL;                      \
    }                                   \
  } while (0)

static napi_value make_error(napi_env env, const char *code, const char *message) {
  napi_value code_value = NULL, message_value = NULL, error = NULL;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value);
  napi_create_error(env, code_value, message_value, &error);
  return error;
}

/* ---------- argument readers ---------- */

static bool get_property(napi_env env, napi_value object, const char *name, napi_value *out, napi_valuetype *type) {
  if (napi_get_named_property(env, object, name, out) != napi_ok) return false;
  return napi_typeof(env, *out, type) == napi_ok;
}

static bool read_unsigned(napi_env env, napi_value object, const char *name, unsigned min, unsigned max, unsigned *out) {
  napi_value value;
  napi_valuetype type;
  if (!get_property(env, object, name, &value, &type)) return false;
  double number = 0;
  if (type != napi_number || napi_get_value_double(env, value, &number) != napi_ok || number != (double)(unsigned)number ||
      number < min || number > max) {
    char message[160];
    snprintf(message, sizeof message, "options.%s must be an integer from %u to %u", name, min, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = (unsigned)number;
  return true;
}

/* A device name, or null/undefined for "not this direction". */
static bool read_device(napi_env env, napi_value object, const char *name, char *out, size_t size, bool *present) {
  napi_value value;
  napi_valuetype type;
  if (!get_property(env, object, name, &value, &type)) return false;
  if (type == napi_null || type == napi_undefined) {
    *present = false;
    return true;
  }
  size_t length = 0;
  if (type != napi_string || napi_get_value_string_utf8(env, value, out, size, &length) != napi_ok || length == 0 || length >= size - 1) {
    char message[160];
    snprintf(message, sizeof message, "options.%s must be a device name (1 to %zu characters) or null", name, size - 2);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  *present = true;
  return true;
}

static bool read_int16_array(napi_env env, napi_value value, const char *name, int16_t **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *pointer = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, &pointer, NULL, NULL) != napi_ok || type != napi_int16_array) {
    char message[120];
    snprintf(message, sizeof message, "%s must be an Int16Array", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  *data = pointer;
  return true;
}

/* ---------- wake-ups ---------- */

static void wake_from_device_thread(void *context) { uv_async_send(((handle *)context)->async); }

static void on_async(uv_async_t *async) {
  handle *h = async->data;
  if (h == NULL || h->closed || h->on_events == NULL) return;
  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, result;
  if (napi_get_reference_value(env, h->on_events, &callback) == napi_ok && callback != NULL && napi_get_global(env, &receiver) == napi_ok) {
    if (napi_make_callback(env, h->context, receiver, callback, 0, NULL, &result) == napi_pending_exception) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void free_async(uv_handle_t *async) { free(async); }

static void release(napi_env env, handle *h) {
  if (h->closed) return;
  h->closed = true;
  engine_close(h->engine); /* joins the device threads: no wake-up comes after this */
  h->engine = NULL;
  if (h->async) {
    h->async->data = NULL;
    uv_close((uv_handle_t *)h->async, free_async);
    h->async = NULL;
  }
  if (h->on_events) napi_delete_reference(env, h->on_events);
  h->on_events = NULL;
  if (h->context) napi_async_destroy(env, h->context);
  h->context = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  handle *h = data;
  release(env, h);
  free(h);
}

/* ---------- open (on a thread of its own) ---------- */

typedef struct {
  handle *h;
  engine_config config;
  char capture[256];
  char playback[256];
  bool has_capture, has_playback;
  char error[512];
  napi_deferred deferred;
  uv_async_t done; /* completion, back on the event loop */
} open_request;

static void open_closed(uv_handle_t *done) { free(done->data); }

static napi_value wrap_engine(napi_env env, handle *h);

static void open_finished(uv_async_t *done) {
  open_request *request = done->data;
  handle *h = request->h;
  napi_env env = h->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  if (h->engine == NULL) {
    napi_reject_deferred(env, request->deferred, make_error(env, "ERR_AUDIO_DEVICE", request->error));
    release(env, h);
    free(h);
  } else {
    napi_value object = wrap_engine(env, h);
    if (object == NULL) {
      napi_value exception = NULL;
      napi_get_and_clear_last_exception(env, &exception);
      napi_reject_deferred(env, request->deferred, exception ? exception : make_error(env, "ERR_ALSA_ENGINE", "cannot wrap the engine"));
    } else {
      napi_resolve_deferred(env, request->deferred, object);
    }
  }
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)done, open_closed);
}

static void *open_main(void *argument) {
  open_request *request = argument;
  request->config.capture_device = request->has_capture ? request->capture : NULL;
  request->config.playback_device = request->has_playback ? request->playback : NULL;
  request->h->engine = engine_open(&request->config, wake_from_device_thread, request->h, request->error, sizeof request->error);
  uv_async_send(&request->done);
  return NULL;
}

/* open({captureDevice, playbackDevice, periodFrames, playbackPeriods, capturePeriods, frameSamples, realtimePriority}, onEvents) */
static napi_value open_engine(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[0], &type));
  if (type != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options must be an object");
    return NULL;
  }
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onEvents must be a function");
    return NULL;
  }
  open_request *request = calloc(1, sizeof *request);
  handle *h = calloc(1, sizeof *h);
  uv_async_t *async = calloc(1, sizeof *async);
  if (!request || !h || !async) {
    free(request);
    free(h);
    free(async);
    napi_throw_error(env, "ERR_ALSA_ENGINE", "out of memory");
    return NULL;
  }
  request->h = h;
  h->env = env;
  engine_config *config = &request->config;
  config->rate = 48000;
  if (!read_device(env, argv[0], "captureDevice", request->capture, sizeof request->capture, &request->has_capture) ||
      !read_device(env, argv[0], "playbackDevice", request->playback, sizeof request->playback, &request->has_playback) ||
      !read_unsigned(env, argv[0], "periodFrames", 48, 1920, &config->period_frames) ||
      !read_unsigned(env, argv[0], "playbackPeriods", 2, 16, &config->playback_periods) ||
      !read_unsigned(env, argv[0], "capturePeriods", 2, 64, &config->capture_periods) ||
      !read_unsigned(env, argv[0], "frameSamples", 48, ENGINE_MAX_FRAME_SAMPLES, &config->frame_samples) ||
      !read_unsigned(env, argv[0], "realtimePriority", 0, 99, (unsigned *)&config->realtime_priority)) {
    free(request);
    free(h);
    free(async);
    return NULL;
  }
  if (!request->has_capture && !request->has_playback) {
    free(request);
    free(h);
    free(async);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "a capture device, a playback device or both");
    return NULL;
  }
  h->frame_samples = config->frame_samples;
  uv_loop_t *loop = NULL;
  napi_value promise, name;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_promise(env, &request->deferred, &promise) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &h->on_events) != napi_ok ||
      napi_create_string_utf8(env, "intercom:alsa-engine", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &h->context) != napi_ok) {
    throw_napi_failure(env, "open");
    return NULL;
  }
  uv_async_init(loop, async, on_async);
  async->data = h;
  uv_unref((uv_handle_t *)async); /* the engine does not keep the process alive by itself */
  h->async = async;
  uv_async_init(loop, &request->done, open_finished);
  request->done.data = request;
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&thread, &attr, open_main, request);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    snprintf(request->error, sizeof request->error, "cannot start the device-opening thread: %s", strerror(err));
    uv_async_send(&request->done);
  }
  return promise;
}

/* ---------- engine methods ---------- */

static handle *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_get_cb_info");
    return NULL;
  }
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, self, &ENGINE_TAG, &tagged) != napi_ok || !tagged || napi_unwrap(env, self, &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not an audio engine");
    return NULL;
  }
  handle *h = data;
  if (h->closed) {
    napi_throw_error(env, "ERR_ALSA_ENGINE_CLOSED", "the audio engine is closed");
    return NULL;
  }
  return h;
}

static napi_value undefined(napi_env env) {
  napi_value value = NULL;
  napi_get_undefined(env, &value);
  return value;
}

static napi_value method_start(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  handle *h = unwrap(env, info, &argc, NULL);
  if (!h) return NULL;
  char error[640] = "";
  if (engine_start(h->engine, error, sizeof error) < 0) {
    napi_throw_error(env, "ERR_AUDIO_DEVICE", error);
    return NULL;
  }
  return undefined(env);
}

static napi_value method_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  handle *h = unwrap(env, info, &argc, NULL);
  if (!h) return NULL;
  engine_stop(h->engine);
  return undefined(env);
}

static napi_value method_close(napi_env env, napi_callback_info info) {
  napi_value self;
  size_t argc = 0;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, NULL, &self, NULL));
  void *data = NULL;
  bool tagged = false;
  if (napi_check_object_type_tag(env, self, &ENGINE_TAG, &tagged) == napi_ok && tagged && napi_unwrap(env, self, &data) == napi_ok && data)
    release(env, data);
  return undefined(env);
}

static napi_value method_state(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  handle *h = unwrap(env, info, &argc, NULL);
  if (!h) return NULL;
  static const char *names[] = {"idle", "running", "stopping", "wedged"};
  napi_value result;
  NAPI_CALL(env, napi_create_string_utf8(env, names[engine_state(h->engine) & 3], NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value method_take_events(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  handle *h = unwrap(env, info, &argc, NULL);
  if (!h) return NULL;
  napi_value result;
  NAPI_CALL(env, napi_create_uint32(env, engine_take_events(h->engine), &result));
  return result;
}

static napi_value method_error(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  handle *h = unwrap(env, info, &argc, NULL);
  if (!h) return NULL;
  char error[640];
  engine_error(h->engine, error, sizeof error);
  napi_value result;
  NAPI_CALL(env, napi_create_string_utf8(env, error, NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value method_set_capture_wanted(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  handle *h = unwrap(env, info, &argc, argv);
  if (!h) return NULL;
  bool wanted = false;
  if (argc < 1 || napi_get_value_bool(env, argv[0], &wanted) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "wanted must be a boolean");
    return NULL;
  }
  engine_set_capture_wanted(h->engine, wanted);
  return undefined(env);
}

static napi_value method_read_capture(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {NULL, NULL, NULL};
  handle *h = unwrap(env, info, &argc, argv);
  if (!h) return NULL;
  int16_t *mic, *reference;
  size_t mic_length, reference_length;
  if (argc < 2 || !read_int16_array(env, argv[0], "mic", &mic, &mic_length) || !read_int16_array(env, argv[1], "reference", &reference, &reference_length))
    return NULL;
  if (mic_length != h->frame_samples || reference_length != h->frame_samples) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "mic and reference must each hold one frame");
    return NULL;
  }
  int64_t at_ns = 0;
  uint64_t position = 0;
  bool got = engine_read_capture(h->engine, mic, reference, &at_ns, &position);
  if (got && argc >= 3) {
    /* where the caller wants the frame's device position too: out[0] */
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    if (napi_is_typedarray(env, argv[2], &is_typed) == napi_ok && is_typed &&
        napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) == napi_ok && type == napi_float64_array && length >= 1)
      ((double *)data)[0] = (double)position;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_double(env, got ? (double)at_ns / 1e6 : -1, &result));
  return result;
}

static napi_value method_write_playback(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  handle *h = unwrap(env, info, &argc, argv);
  if (!h) return NULL;
  int16_t *samples;
  size_t length;
  if (argc < 1 || !read_int16_array(env, argv[0], "pcm", &samples, &length)) return NULL;
  napi_value result;
  NAPI_CALL(env, napi_create_double(env, (double)engine_write_playback(h->engine, samples, length), &result));
  return result;
}

static napi_value method_skip_playback(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  handle *h = unwrap(env, info, &argc, argv);
  if (!h) return NULL;
  double position = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &position) != napi_ok || !(position >= 0)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "position must be a non-negative number");
    return NULL;
  }
  engine_skip_playback(h->engine, (uint64_t)position);
  return undefined(env);
}

static napi_value method_set_low_water(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  handle *h = unwrap(env, info, &argc, argv);
  if (!h) return NULL;
  double samples = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &samples) != napi_ok || !(samples >= 0 && samples <= 16384)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "low water must be 0 to 16384 samples");
    return NULL;
  }
  engine_set_low_water(h->engine, (unsigned)samples);
  return undefined(env);
}

static napi_value method_playback_status(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  handle *h = unwrap(env, info, &argc, argv);
  if (!h) return NULL;
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || length < 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "out must be a Float64Array of 4");
    return NULL;
  }
  engine_playback_state state;
  engine_playback_get(h->engine, &state);
  double *out = data;
  out[0] = (double)state.read_position;
  out[1] = (double)state.write_position;
  out[2] = (double)state.playing_position;
  out[3] = (double)state.at_ns / 1e6;
  return undefined(env);
}

static bool set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number;
  return napi_create_double(env, value, &number) == napi_ok && napi_set_named_property(env, object, name, number) == napi_ok;
}

static napi_value method_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  handle *h = unwrap(env, info, &argc, NULL);
  if (!h) return NULL;
  engine_stats stats;
  engine_stats_get(h->engine, &stats);
  napi_value result, flag;
  NAPI_CALL(env, napi_create_object(env, &result));
  if (!set_number(env, result, "capturePeriods", (double)stats.capture_periods) ||
      !set_number(env, result, "playbackPeriods", (double)stats.playback_periods) ||
      !set_number(env, result, "captureOverruns", (double)stats.capture_overruns) ||
      !set_number(env, result, "playbackUnderruns", (double)stats.playback_underruns) ||
      !set_number(env, result, "starvedSamples", (double)stats.starved_samples) ||
      !set_number(env, result, "captureFramesDropped", (double)stats.capture_frames_dropped) ||
      !set_number(env, result, "referenceOffset", (double)stats.reference_offset) ||
      !set_number(env, result, "referenceOffsetRaw", (double)stats.reference_offset_raw) ||
      !set_number(env, result, "referenceOffsetChanges", (double)stats.reference_offset_changes) ||
      !set_number(env, result, "captureDelayFrames", stats.capture_delay_frames) ||
      !set_number(env, result, "playbackDelayFrames", stats.playback_delay_frames)) {
    throw_napi_failure(env, "stats");
    return NULL;
  }
  NAPI_CALL(env, napi_get_boolean(env, stats.realtime, &flag));
  NAPI_CALL(env, napi_set_named_property(env, result, "realtime", flag));
  NAPI_CALL(env, napi_get_boolean(env, stats.running, &flag));
  NAPI_CALL(env, napi_set_named_property(env, result, "running", flag));
  return result;
}

static napi_value wrap_engine(napi_env env, handle *h) {
  napi_value object;
  napi_property_descriptor methods[] = {
      {"start", NULL, method_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, method_stop, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, method_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"state", NULL, method_state, NULL, NULL, NULL, napi_default_method, NULL},
      {"takeEvents", NULL, method_take_events, NULL, NULL, NULL, napi_default_method, NULL},
      {"error", NULL, method_error, NULL, NULL, NULL, napi_default_method, NULL},
      {"setCaptureWanted", NULL, method_set_capture_wanted, NULL, NULL, NULL, napi_default_method, NULL},
      {"readCapture", NULL, method_read_capture, NULL, NULL, NULL, napi_default_method, NULL},
      {"writePlayback", NULL, method_write_playback, NULL, NULL, NULL, napi_default_method, NULL},
      {"skipPlayback", NULL, method_skip_playback, NULL, NULL, NULL, napi_default_method, NULL},
      {"setLowWater", NULL, method_set_low_water, NULL, NULL, NULL, napi_default_method, NULL},
      {"playbackStatus", NULL, method_playback_status, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, method_stats, NULL, NULL, NULL, napi_default_method, NULL},
  };
  NAPI_CALL(env, napi_create_object(env, &object));
  NAPI_CALL(env, napi_define_properties(env, object, sizeof methods / sizeof methods[0], methods));
  NAPI_CALL(env, napi_type_tag_object(env, object, &ENGINE_TAG));
  NAPI_CALL(env, napi_wrap(env, object, h, finalize, NULL, NULL));
  return object;
}

/* ---------- module functions ---------- */

static napi_value now_ms(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  NAPI_CALL(env, napi_create_double(env, (double)engine_now_ns() / 1e6, &result));
  return result;
}

static bool push_string(napi_env env, napi_value object, const char *name, const char *value) {
  napi_value string;
  if (value == NULL) return napi_get_null(env, &string) == napi_ok && napi_set_named_property(env, object, name, string) == napi_ok;
  return napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &string) == napi_ok && napi_set_named_property(env, object, name, string) == napi_ok;
}

/* PCMs alsa-lib advertises (hints) and the sound cards present. */
static napi_value list_devices(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, pcms, cards;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_array(env, &pcms));
  NAPI_CALL(env, napi_create_array(env, &cards));
  void **hints = NULL;
  uint32_t count = 0;
  if (snd_device_name_hint(-1, "pcm", &hints) == 0 && hints) {
    for (void **hint = hints; *hint; hint++) {
      char *name = snd_device_name_get_hint(*hint, "NAME");
      char *description = snd_device_name_get_hint(*hint, "DESC");
      char *direction = snd_device_name_get_hint(*hint, "IOID");
      napi_value entry;
      bool ok = napi_create_object(env, &entry) == napi_ok && push_string(env, entry, "name", name) &&
                push_string(env, entry, "description", description) &&
                push_string(env, entry, "direction", direction == NULL ? NULL : strcmp(direction, "Input") == 0 ? "capture" : "playback") &&
                napi_set_element(env, pcms, count++, entry) == napi_ok;
      free(name);
      free(description);
      free(direction);
      if (!ok) break;
    }
    snd_device_name_free_hint(hints);
  }
  int card = -1;
  count = 0;
  while (snd_card_next(&card) == 0 && card >= 0) {
    char control[32];
    snprintf(control, sizeof control, "hw:%d", card);
    snd_ctl_t *ctl = NULL;
    if (snd_ctl_open(&ctl, control, SND_CTL_NONBLOCK) < 0) continue;
    snd_ctl_card_info_t *card_info;
    snd_ctl_card_info_alloca(&card_info);
    if (snd_ctl_card_info(ctl, card_info) == 0) {
      napi_value entry, index;
      if (napi_create_object(env, &entry) == napi_ok && napi_create_int32(env, card, &index) == napi_ok &&
          napi_set_named_property(env, entry, "index", index) == napi_ok && push_string(env, entry, "id", snd_ctl_card_info_get_id(card_info)) &&
          push_string(env, entry, "name", snd_ctl_card_info_get_name(card_info)))
        napi_set_element(env, cards, count++, entry);
    }
    snd_ctl_close(ctl);
  }
  NAPI_CALL(env, napi_set_named_property(env, result, "pcms", pcms));
  NAPI_CALL(env, napi_set_named_property(env, result, "cards", cards));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor exported[] = {
      {"open", NULL, open_engine, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nowMs", NULL, now_ms, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listDevices", NULL, list_devices, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof exported / sizeof exported[0], exported));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
