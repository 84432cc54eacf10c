/*
 * Node-API binding to the system speexdsp for pi-intercom's capture path: the MDF acoustic echo
 * canceller (speex_echo_*) followed by the preprocessor (speex_preprocess_*: noise suppression,
 * suppression of the echo the canceller left, and a speech probability), on mono 16-bit blocks.
 * Gain control is done in TypeScript (src/audio-processing/gain-control.ts): speexdsp's AGC
 * cannot be held while only the far end talks, and then it turns residual echo up.
 *
 * One SpeexProcessor holds both states because the preprocessor reads the canceller's residual
 * echo estimate each block (SPEEX_PREPROCESS_SET_ECHO_STATE): they must run in step, block for
 * block, and are created, reset and freed together.
 *
 * Safety rules this file keeps (as the Opus addon does):
 * - every argument is type- and range-checked here, not only in TypeScript;
 * - speexdsp only ever reads and writes blocks of exactly the size its states were made for,
 *   in buffers this file owns (so JS arrays that alias each other are fine);
 * - each object carries a type tag, so a method called on a foreign object throws instead of
 *   misreading memory;
 * - close() frees the speexdsp states at once (closing twice is a no-op), any other call after it
 *   throws, and the finalizer frees whatever close() did not.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#define MAX_BLOCK_SAMPLES 4800
/* One call may process up to a second of 48 kHz audio. */
#define MAX_CALL_SAMPLES 48000
/* The figures process() writes: see process() below. */
#define FIGURE_COUNT 5

static const napi_type_tag PROCESSOR_TAG = {0x7069696e74657263ULL, 0x6f6d73706578656cULL};

typedef struct {
  int sample_rate;
  int block_samples;
  int echo_filter_samples; /* 0: no echo canceller */
  bool preprocess;          /* false: the canceller's output as it is */
  bool denoise;             /* false: the preprocessor leaves stationary noise alone */
  int noise_suppress_db;
  int echo_suppress_db;
  int echo_suppress_active_db;
} ProcessorOptions;

typedef struct {
  ProcessorOptions options;
  bool open;
  SpeexEchoState *echo;       /* NULL when the canceller is off (or closed) */
  SpeexPreprocessState *pre;  /* NULL when there is nothing to do after the canceller */
  int64_t accounted_bytes;
  spx_int16_t input[MAX_BLOCK_SAMPLES];
  spx_int16_t reference[MAX_BLOCK_SAMPLES];
  spx_int16_t cancelled[MAX_BLOCK_SAMPLES];
} ProcessorHandle;

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
  napi_throw_error(env, "ERR_SPEEX_NAPI", message);
}

#define NAPI_CALL(env, call)                  \
  do {                                        \
    if ((call) != napi_ok) {                  \
      throw_napi_failure((env), #call);       \
      return NULL;                            \
    }                                         \
  } while (0)

#define NAPI_CALL_BOOL(env, call)             \
  do {                                        \
    if ((call) != napi_ok) {                  \
      throw_napi_failure((env), #call);       \
      return false;                           \
    }                                         \
  } while (0)

/* ---------- argument readers (each returns false with a JS exception pending) ---------- */

static bool read_integer(napi_env env, napi_value value, const char *name, int min, int max, int *out) {
  napi_valuetype type;
  NAPI_CALL_BOOL(env, napi_typeof(env, value, &type));
  char message[160];
  if (type != napi_number) {
    snprintf(message, sizeof message, "%s must be a number", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  double number;
  NAPI_CALL_BOOL(env, napi_get_value_double(env, value, &number));
  if (!isfinite(number) || floor(number) != number || number < min || number > max) {
    snprintf(message, sizeof message, "%s must be an integer from %d to %d", name, min, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = (int)number;
  return true;
}

/* Reads options[name] into *out; leaves *out (the default) alone when it is absent or undefined. */
static bool read_integer_option(napi_env env, napi_value options, const char *name, int min, int max, int *out) {
  napi_value value;
  NAPI_CALL_BOOL(env, napi_get_named_property(env, options, name, &value));
  napi_valuetype type;
  NAPI_CALL_BOOL(env, napi_typeof(env, value, &type));
  if (type == napi_undefined) return true;
  return read_integer(env, value, name, min, max, out);
}

static bool read_boolean_option(napi_env env, napi_value options, const char *name, bool *out) {
  napi_value value;
  NAPI_CALL_BOOL(env, napi_get_named_property(env, options, name, &value));
  napi_valuetype type;
  NAPI_CALL_BOOL(env, napi_typeof(env, value, &type));
  if (type == napi_undefined) return true;
  if (type != napi_boolean) {
    char message[160];
    snprintf(message, sizeof message, "%s must be a boolean", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  NAPI_CALL_BOOL(env, napi_get_value_bool(env, value, out));
  return true;
}

static bool read_typed_array(napi_env env, napi_value value, napi_typedarray_type expected,
                             const char *description, void **data, size_t *length) {
  bool is_typed_array = false;
  NAPI_CALL_BOOL(env, napi_is_typedarray(env, value, &is_typed_array));
  napi_typedarray_type type = napi_int8_array;
  if (is_typed_array) {
    NAPI_CALL_BOOL(env, napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL));
  }
  if (!is_typed_array || type != expected) {
    char message[160];
    snprintf(message, sizeof message, "expected %s", description);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  return true;
}

static bool is_nullish(napi_env env, napi_value value, bool *out) {
  napi_valuetype type;
  NAPI_CALL_BOOL(env, napi_typeof(env, value, &type));
  *out = type == napi_undefined || type == napi_null;
  return true;
}

static bool read_options(napi_env env, napi_value options, ProcessorOptions *out) {
  napi_valuetype type = napi_undefined;
  NAPI_CALL_BOOL(env, napi_typeof(env, options, &type));
  if (type != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "SpeexProcessor expects an options object");
    return false;
  }
  /* speexdsp's own defaults, except where a door unit needs otherwise (set from TypeScript). */
  *out = (ProcessorOptions){
      .sample_rate = 48000,
      .block_samples = 480,
      .echo_filter_samples = 0,
      .preprocess = true,
      .denoise = true,
      .noise_suppress_db = -15,
      .echo_suppress_db = -40,
      .echo_suppress_active_db = -15,
  };
  if (!read_integer_option(env, options, "sampleRate", 8000, 48000, &out->sample_rate)) return false;
  if (!read_integer_option(env, options, "blockSamples", 64, MAX_BLOCK_SAMPLES, &out->block_samples)) return false;
  if (!read_integer_option(env, options, "echoFilterSamples", 0, out->sample_rate, &out->echo_filter_samples)) return false;
  if (out->echo_filter_samples != 0 && out->echo_filter_samples < out->block_samples) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "echoFilterSamples must be 0 (off) or at least blockSamples");
    return false;
  }
  if (!read_boolean_option(env, options, "preprocess", &out->preprocess)) return false;
  if (!read_boolean_option(env, options, "denoise", &out->denoise)) return false;
  if (!read_integer_option(env, options, "noiseSuppressDb", -60, 0, &out->noise_suppress_db)) return false;
  if (!read_integer_option(env, options, "echoSuppressDb", -90, 0, &out->echo_suppress_db)) return false;
  if (!read_integer_option(env, options, "echoSuppressActiveDb", -90, 0, &out->echo_suppress_active_db)) return false;
  return true;
}

/* ---------- speexdsp states ---------- */

/*
 * V8 cannot see native memory. speexdsp does not say how much it holds; the canceller's arrays
 * dominate (about ten floats per filter tap across its spectra and buffers), so that is what is
 * reported, to let the garbage collector weigh processors dropped without close().
 */
static int64_t estimated_native_bytes(const ProcessorOptions *options) {
  return (int64_t)sizeof(ProcessorHandle) + (int64_t)options->echo_filter_samples * 10 * (int64_t)sizeof(float) +
         (int64_t)options->block_samples * 40 * (int64_t)sizeof(float);
}

static void destroy_states(ProcessorHandle *handle) {
  /* The preprocessor holds a pointer to the echo state: free it first. */
  if (handle->pre != NULL) speex_preprocess_state_destroy(handle->pre);
  if (handle->echo != NULL) speex_echo_state_destroy(handle->echo);
  handle->pre = NULL;
  handle->echo = NULL;
}

static bool create_states(ProcessorHandle *handle) {
  const ProcessorOptions *o = &handle->options;
  if (o->echo_filter_samples > 0) {
    handle->echo = speex_echo_state_init(o->block_samples, o->echo_filter_samples);
    if (handle->echo == NULL) return false;
    spx_int32_t rate = o->sample_rate;
    speex_echo_ctl(handle->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
  }
  /*
   * The preprocessor's denoiser stays switched on even when noise suppression is off, because
   * speexdsp applies the residual echo suppression through the denoiser's gains (and computes
   * the speech probability there); "off" is then a noise floor of 0 dB, which leaves noise alone.
   */
  if (o->preprocess) {
    handle->pre = speex_preprocess_state_init(o->block_samples, o->sample_rate);
    if (handle->pre == NULL) {
      destroy_states(handle);
      return false;
    }
    spx_int32_t on = 1, off = 0;
    spx_int32_t noise_suppress = o->denoise ? o->noise_suppress_db : 0;
    speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_SET_DENOISE, &on);
    speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &noise_suppress);
    /* Its VAD stays off (the default; setting it at all makes speexdsp print a warning). */
    speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_SET_DEREVERB, &off);
    speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_SET_AGC, &off);
    if (handle->echo != NULL) {
      spx_int32_t suppress = o->echo_suppress_db, suppress_active = o->echo_suppress_active_db;
      speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &suppress);
      speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &suppress_active);
      speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, handle->echo);
    }
  }
  return true;
}

static void account_native_memory(napi_env env, int64_t bytes) {
  int64_t total;
  napi_adjust_external_memory(env, bytes, &total);
}

static void release_processor(napi_env env, ProcessorHandle *handle) {
  if (!handle->open) return;
  destroy_states(handle);
  handle->open = false;
  account_native_memory(env, -handle->accounted_bytes);
  handle->accounted_bytes = 0;
}

static void finalize_processor(napi_env env, void *data, void *hint) {
  (void)hint;
  ProcessorHandle *handle = data;
  release_processor(env, handle);
  free(handle);
}

/* ---------- object plumbing ---------- */

static ProcessorHandle *unwrap_open_processor(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                                              bool allow_closed) {
  napi_value self;
  NAPI_CALL(env, napi_get_cb_info(env, info, argc, argv, &self, NULL));
  bool tagged = false;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, self, &type));
  if (type == napi_object) NAPI_CALL(env, napi_check_object_type_tag(env, self, &PROCESSOR_TAG, &tagged));
  if (!tagged) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "method called on an object that is not a SpeexProcessor");
    return NULL;
  }
  ProcessorHandle *handle = NULL;
  NAPI_CALL(env, napi_unwrap(env, self, (void **)&handle));
  if (!allow_closed && !handle->open) {
    napi_throw_error(env, "ERR_SPEEX_CLOSED", "SpeexProcessor is closed");
    return NULL;
  }
  return handle;
}

/*
 * new SpeexProcessor({ sampleRate, blockSamples, echoFilterSamples, preprocess, denoise,
 *                      noiseSuppressDb, echoSuppressDb, echoSuppressActiveDb })
 */
static napi_value processor_construct(napi_env env, napi_callback_info info) {
  napi_value new_target = NULL;
  NAPI_CALL(env, napi_get_new_target(env, info, &new_target));
  if (new_target == NULL) {
    napi_throw_type_error(env, "ERR_CONSTRUCT_CALL_REQUIRED", "SpeexProcessor must be called with new");
    return NULL;
  }
  size_t argc = 1;
  napi_value argv[1] = {NULL}, self;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  ProcessorOptions options;
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "SpeexProcessor expects an options object");
    return NULL;
  }
  if (!read_options(env, argv[0], &options)) return NULL;

  ProcessorHandle *handle = calloc(1, sizeof *handle);
  if (handle == NULL) {
    napi_throw_error(env, "ERR_SPEEX_ALLOC", "SpeexProcessor allocation failed");
    return NULL;
  }
  handle->options = options;
  if (!create_states(handle)) {
    free(handle);
    napi_throw_error(env, "ERR_SPEEX_ALLOC", "speexdsp could not create its state");
    return NULL;
  }
  handle->open = true;
  handle->accounted_bytes = estimated_native_bytes(&options);
  account_native_memory(env, handle->accounted_bytes);
  if (napi_wrap(env, self, handle, finalize_processor, NULL, NULL) != napi_ok) {
    finalize_processor(env, handle, NULL);
    throw_napi_failure(env, "napi_wrap");
    return NULL;
  }
  NAPI_CALL(env, napi_type_tag_object(env, self, &PROCESSOR_TAG));
  return self;
}

static double block_energy(const spx_int16_t *samples, int count) {
  double sum = 0;
  for (int i = 0; i < count; i++) sum += (double)samples[i] * samples[i];
  return sum;
}

/*
 * process(mic: Int16Array, reference: Int16Array | null, output: Int16Array, figures?: Float64Array)
 *
 * Runs whole blocks: mic.length must be a multiple of blockSamples (up to 48000 samples), and
 * reference (what left the speaker as each mic sample was taken; null reads as silence) and output
 * as long. output may be mic itself. figures, when given (length >= 5), receives for this call:
 * [0] mic energy, [1] reference energy, [2] energy after the echo canceller, [3] output energy
 * (sums of squared samples), [4] the preprocessor's speech probability of the last block (0..1;
 * 0 without the preprocessor). With the preprocessor, output lags mic by one block.
 */
static napi_value processor_process(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4] = {NULL, NULL, NULL, NULL};
  ProcessorHandle *handle = unwrap_open_processor(env, info, &argc, argv, false);
  if (handle == NULL) return NULL;
  const int block = handle->options.block_samples;

  void *mic_data = NULL, *output_data = NULL, *reference_data = NULL, *figure_data = NULL;
  size_t mic_length = 0, output_length = 0, reference_length = 0, figure_length = 0;
  if (!read_typed_array(env, argv[0], napi_int16_array, "mic to be an Int16Array", &mic_data, &mic_length)) return NULL;
  if (mic_length == 0 || mic_length > MAX_CALL_SAMPLES || mic_length % (size_t)block != 0) {
    char message[160];
    snprintf(message, sizeof message, "mic must hold a whole number of %d-sample blocks, at most %d samples", block,
             MAX_CALL_SAMPLES);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return NULL;
  }
  bool no_reference = false;
  if (!is_nullish(env, argv[1], &no_reference)) return NULL;
  if (!no_reference) {
    if (!read_typed_array(env, argv[1], napi_int16_array, "reference to be an Int16Array or null", &reference_data,
                          &reference_length)) {
      return NULL;
    }
    if (reference_length != mic_length) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "reference must be as long as mic");
      return NULL;
    }
  }
  if (!read_typed_array(env, argv[2], napi_int16_array, "output to be an Int16Array", &output_data, &output_length)) {
    return NULL;
  }
  if (output_length != mic_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "output must be as long as mic");
    return NULL;
  }
  bool no_figures = false;
  if (argc >= 4 && !is_nullish(env, argv[3], &no_figures)) return NULL;
  if (argc >= 4 && !no_figures) {
    if (!read_typed_array(env, argv[3], napi_float64_array, "figures to be a Float64Array", &figure_data,
                          &figure_length)) {
      return NULL;
    }
    if (figure_length < FIGURE_COUNT) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "figures must hold at least 5 numbers");
      return NULL;
    }
  }

  const spx_int16_t *mic = mic_data;
  const spx_int16_t *reference = reference_data;
  spx_int16_t *output = output_data;
  double mic_energy = 0, reference_energy = 0, cancelled_energy = 0, output_energy = 0;
  for (size_t offset = 0; offset < mic_length; offset += (size_t)block) {
    /* Copies first: mic, reference and output may share memory. */
    memcpy(handle->input, mic + offset, (size_t)block * sizeof(spx_int16_t));
    if (reference != NULL) memcpy(handle->reference, reference + offset, (size_t)block * sizeof(spx_int16_t));
    else memset(handle->reference, 0, (size_t)block * sizeof(spx_int16_t));
    mic_energy += block_energy(handle->input, block);
    reference_energy += block_energy(handle->reference, block);
    if (handle->echo != NULL) speex_echo_cancellation(handle->echo, handle->input, handle->reference, handle->cancelled);
    else memcpy(handle->cancelled, handle->input, (size_t)block * sizeof(spx_int16_t));
    cancelled_energy += block_energy(handle->cancelled, block);
    if (handle->pre != NULL) speex_preprocess_run(handle->pre, handle->cancelled);
    output_energy += block_energy(handle->cancelled, block);
    memcpy(output + offset, handle->cancelled, (size_t)block * sizeof(spx_int16_t));
  }
  if (figure_data != NULL) {
    double *figures = figure_data;
    figures[0] = mic_energy;
    figures[1] = reference_energy;
    figures[2] = cancelled_energy;
    figures[3] = output_energy;
    spx_int32_t probability = 0;
    if (handle->pre != NULL) speex_preprocess_ctl(handle->pre, SPEEX_PREPROCESS_GET_PROB, &probability);
    figures[4] = probability / 100.0;
  }
  return NULL;
}

/* reset(): forgets everything learnt (echo path, noise), as after a new device. */
static napi_value processor_reset(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  ProcessorHandle *handle = unwrap_open_processor(env, info, &argc, NULL, false);
  if (handle == NULL) return NULL;
  destroy_states(handle);
  if (!create_states(handle)) {
    release_processor(env, handle);
    napi_throw_error(env, "ERR_SPEEX_ALLOC", "speexdsp could not create its state; the processor is closed");
    return NULL;
  }
  return NULL;
}

/*
 * impulseResponse() -> Float32Array | null: the echo path the canceller has learnt (echoFilterSamples
 * taps, 1.0 = full scale), or null without a canceller.
 */
static napi_value processor_impulse_response(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  ProcessorHandle *handle = unwrap_open_processor(env, info, &argc, NULL, false);
  if (handle == NULL) return NULL;
  napi_value result;
  if (handle->echo == NULL) {
    NAPI_CALL(env, napi_get_null(env, &result));
    return result;
  }
  spx_int32_t size = 0;
  speex_echo_ctl(handle->echo, SPEEX_ECHO_GET_IMPULSE_RESPONSE_SIZE, &size);
  if (size <= 0 || size > 2 * handle->options.sample_rate) {
    napi_throw_error(env, "ERR_SPEEX", "speexdsp reported an impossible impulse response size");
    return NULL;
  }
  spx_int32_t *taps = malloc((size_t)size * sizeof *taps);
  if (taps == NULL) {
    napi_throw_error(env, "ERR_SPEEX_ALLOC", "impulse response allocation failed");
    return NULL;
  }
  speex_echo_ctl(handle->echo, SPEEX_ECHO_GET_IMPULSE_RESPONSE, taps);
  void *data = NULL;
  napi_value buffer;
  if (napi_create_arraybuffer(env, (size_t)size * sizeof(float), &data, &buffer) != napi_ok) {
    free(taps);
    throw_napi_failure(env, "napi_create_arraybuffer");
    return NULL;
  }
  float *out = data;
  for (spx_int32_t i = 0; i < size; i++) out[i] = (float)taps[i] / 32767.0f;
  free(taps);
  NAPI_CALL(env, napi_create_typedarray(env, napi_float32_array, (size_t)size, buffer, 0, &result));
  return result;
}

/* close() frees the speexdsp states now rather than at garbage collection; closing twice is harmless. */
static napi_value processor_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  ProcessorHandle *handle = unwrap_open_processor(env, info, &argc, NULL, true);
  if (handle != NULL) release_processor(env, handle);
  return NULL;
}

/* ---------- module ---------- */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"process", NULL, processor_process, NULL, NULL, NULL, napi_default_method, NULL},
      {"reset", NULL, processor_reset, NULL, NULL, NULL, napi_default_method, NULL},
      {"impulseResponse", NULL, processor_impulse_response, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, processor_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value processor_class;
  NAPI_CALL(env, napi_define_class(env, "SpeexProcessor", NAPI_AUTO_LENGTH, processor_construct, NULL,
                                   sizeof methods / sizeof methods[0], methods, &processor_class));
  napi_property_descriptor exported[] = {
      {"SpeexProcessor", NULL, NULL, NULL, NULL, processor_class, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof exported / sizeof exported[0], exported));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
