/*
 * Node-API binding to the system libopus for pi-intercom: 48 kHz mono VOIP encoder and decoder,
 * including in-band FEC decoding (decode_fec = 1), which the npm Opus wrappers do not expose.
 *
 * Safety rules this file keeps:
 * - every argument is type- and range-checked here, not only in TypeScript;
 * - libopus only ever writes into buffers whose capacity is the size we pass it;
 * - each object carries a type tag, so a method called on a foreign object throws instead of
 *   misreading memory;
 * - close() frees the libopus state at once (closing twice is a no-op), any other call after it
 *   throws, and the finalizer frees whatever close() did not;
 * - every libopus failure becomes a JS Error whose message is opus_strerror's text.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <opus.h>

#define SAMPLE_RATE 48000
#define CHANNELS 1
/* 2.5 ms: libopus decodes (and conceals) only whole multiples of this. */
#define FRAME_QUANTUM_SAMPLES (SAMPLE_RATE / 400)
/* 120 ms: the most audio one Opus packet can hold. */
#define MAX_FRAME_SAMPLES (SAMPLE_RATE * 120 / 1000)
/* The encode output capacity libopus's documentation recommends. */
#define MAX_PACKET_BYTES 4000
/* Far above any valid packet (48 frames x 1275 bytes); keeps lengths well inside opus_int32. */
#define MAX_PAYLOAD_BYTES (1 << 20)

static const napi_type_tag ENCODER_TAG = {0x7069696e74657263ULL, 0x6f6d6f7075736531ULL};
static const napi_type_tag DECODER_TAG = {0x7069696e74657263ULL, 0x6f6d6f7075736432ULL};

typedef struct {
  OpusEncoder *encoder; /* NULL once closed */
  unsigned char packet[MAX_PACKET_BYTES];
} EncoderHandle;

typedef struct {
  OpusDecoder *decoder; /* NULL once closed */
  /* libopus cannot switch from CELT into an FEC frame and conceals instead; remember the last mode. */
  bool last_frame_celt_only;
  opus_int16 pcm[MAX_FRAME_SAMPLES];
} DecoderHandle;

/* ---------- errors ---------- */

static const char *opus_error_code(int error) {
  switch (error) {
    case OPUS_BAD_ARG: return "ERR_OPUS_BAD_ARG";
    case OPUS_BUFFER_TOO_SMALL: return "ERR_OPUS_BUFFER_TOO_SMALL";
    case OPUS_INTERNAL_ERROR: return "ERR_OPUS_INTERNAL_ERROR";
    case OPUS_INVALID_PACKET: return "ERR_OPUS_INVALID_PACKET";
    case OPUS_UNIMPLEMENTED: return "ERR_OPUS_UNIMPLEMENTED";
    case OPUS_INVALID_STATE: return "ERR_OPUS_INVALID_STATE";
    case OPUS_ALLOC_FAIL: return "ERR_OPUS_ALLOC_FAIL";
    default: return "ERR_OPUS";
  }
}

static void throw_opus_error(napi_env env, const char *operation, int error) {
  char message[200];
  snprintf(message, sizeof message, "%s failed: %s", operation, opus_strerror(error));
  napi_throw_error(env, opus_error_code(error), message);
}

/* A failed Node-API call leaves either a pending exception or error info; surface one of them. */
static void throw_napi_failure(napi_env env, const char *call) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char message[256];
  snprintf(message, sizeof message, "Node-API call %.100s failed: %.100s", call,
           info != NULL && info->error_message != NULL ? info->error_message : "unknown error");
  napi_throw_error(env, "ERR_OPUS_NAPI", message);
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

/* Reads options[name]; leaves *present false (and *out untouched) when it is absent or undefined. */
static bool read_optional_integer_option(napi_env env, napi_value options, const char *name, int min,
                                         int max, bool *present, int *out) {
  *present = false;
  napi_value value;
  NAPI_CALL_BOOL(env, napi_get_named_property(env, options, name, &value));
  napi_valuetype type;
  NAPI_CALL_BOOL(env, napi_typeof(env, value, &type));
  if (type == napi_undefined) return true;
  *present = true;
  return read_integer(env, value, name, min, max, out);
}

static bool read_optional_boolean_option(napi_env env, napi_value options, const char *name,
                                         bool fallback, bool *out) {
  napi_value value;
  NAPI_CALL_BOOL(env, napi_get_named_property(env, options, name, &value));
  napi_valuetype type;
  NAPI_CALL_BOOL(env, napi_typeof(env, value, &type));
  if (type == napi_undefined) {
    *out = fallback;
    return true;
  }
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

/* An Opus payload: a non-empty Uint8Array (a Buffer is one). Loss is conceal(), not an empty payload. */
static bool read_payload(napi_env env, napi_value value, const unsigned char **data, opus_int32 *length) {
  void *bytes = NULL;
  size_t byte_count = 0;
  if (!read_typed_array(env, value, napi_uint8_array, "payload to be a Uint8Array", &bytes, &byte_count)) {
    return false;
  }
  if (byte_count == 0 || byte_count > MAX_PAYLOAD_BYTES) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "payload must hold 1 to 1048576 bytes (use conceal() for a lost packet)");
    return false;
  }
  *data = bytes;
  *length = (opus_int32)byte_count;
  return true;
}

static bool read_frame_samples(napi_env env, napi_value value, int *out) {
  if (!read_integer(env, value, "frameSamples", FRAME_QUANTUM_SAMPLES, MAX_FRAME_SAMPLES, out)) return false;
  if (*out % FRAME_QUANTUM_SAMPLES != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "frameSamples must be a multiple of 120 (2.5 ms at 48 kHz)");
    return false;
  }
  return true;
}

static napi_value make_int16_array(napi_env env, const opus_int16 *samples, size_t count) {
  void *data = NULL;
  napi_value buffer, array;
  NAPI_CALL(env, napi_create_arraybuffer(env, count * sizeof(opus_int16), &data, &buffer));
  if (count > 0) memcpy(data, samples, count * sizeof(opus_int16));
  NAPI_CALL(env, napi_create_typedarray(env, napi_int16_array, count, buffer, 0, &array));
  return array;
}

/* Gets `this` and the arguments and returns this object's handle, after checking its type tag. */
static void *unwrap_handle(napi_env env, napi_callback_info info, const napi_type_tag *tag, const char *class_name,
                           size_t *argc, napi_value *argv) {
  napi_value self;
  NAPI_CALL(env, napi_get_cb_info(env, info, argc, argv, &self, NULL));
  bool tagged = false;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, self, &type));
  if (type == napi_object) NAPI_CALL(env, napi_check_object_type_tag(env, self, tag, &tagged));
  if (!tagged) {
    char message[160];
    snprintf(message, sizeof message, "method called on an object that is not an %s", class_name);
    napi_throw_type_error(env, "ERR_INVALID_THIS", message);
    return NULL;
  }
  void *handle = NULL;
  NAPI_CALL(env, napi_unwrap(env, self, &handle));
  return handle;
}

static void throw_closed(napi_env env, const char *class_name) {
  char message[160];
  snprintf(message, sizeof message, "%s is closed", class_name);
  napi_throw_error(env, "ERR_OPUS_CLOSED", message);
}

static EncoderHandle *unwrap_open_encoder(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  EncoderHandle *handle = unwrap_handle(env, info, &ENCODER_TAG, "OpusEncoder", argc, argv);
  if (handle != NULL && handle->encoder == NULL) {
    throw_closed(env, "OpusEncoder");
    return NULL;
  }
  return handle;
}

static DecoderHandle *unwrap_open_decoder(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  DecoderHandle *handle = unwrap_handle(env, info, &DECODER_TAG, "OpusDecoder", argc, argv);
  if (handle != NULL && handle->decoder == NULL) {
    throw_closed(env, "OpusDecoder");
    return NULL;
  }
  return handle;
}

static bool require_construct_call(napi_env env, napi_callback_info info, const char *class_name) {
  napi_value new_target = NULL;
  NAPI_CALL_BOOL(env, napi_get_new_target(env, info, &new_target));
  if (new_target == NULL) {
    char message[160];
    snprintf(message, sizeof message, "%s must be called with new", class_name);
    napi_throw_type_error(env, "ERR_CONSTRUCT_CALL_REQUIRED", message);
    return false;
  }
  return true;
}

/* ---------- packet inspection ---------- */

/* TOC configurations 16..31 are CELT-only (RFC 6716 section 3.1). */
static bool toc_is_celt_only(unsigned char toc) { return (toc >> 3) >= 16; }

/*
 * Whether the packet's first Opus frame carries SILK LBRR data (in-band FEC): 1, 0, or a negative
 * libopus error for a malformed packet. libopus 1.5 has opus_packet_has_lbrr(); Debian bookworm ships
 * 1.3.1, so this reads the flag as RFC 6716 section 4.2.3 lays it out: a SILK or hybrid frame opens
 * with one VAD flag per 20 ms SILK frame and then the LBRR flag, per channel, and the encoder writes
 * these flags as the top bits of the frame's first byte. CELT-only frames never carry FEC, and
 * opus_decode(decode_fec = 1) reads only the first frame.
 */
static int packet_lbrr_flag(const unsigned char *data, opus_int32 length) {
  const unsigned char *frames[48];
  opus_int16 frame_sizes[48];
  unsigned char toc = 0;
  int frame_count = opus_packet_parse(data, length, &toc, frames, frame_sizes, NULL);
  if (frame_count < 0) return frame_count;
  if (toc_is_celt_only(toc) || frame_count == 0 || frame_sizes[0] == 0) return 0;
  int samples_per_frame = opus_packet_get_samples_per_frame(data, SAMPLE_RATE);
  int silk_frames = samples_per_frame > 960 ? samples_per_frame / 960 : 1;
  unsigned char first = frames[0][0];
  int lbrr = (first >> (7 - silk_frames)) & 1;
  bool stereo = (toc & 0x4) != 0;
  if (stereo) lbrr |= (first >> (6 - 2 * silk_frames)) & 1;
  return lbrr;
}

/* ---------- encoder ---------- */

/*
 * V8 cannot see native memory; telling it how much each object holds lets the garbage collector
 * reclaim codecs that were dropped without close() before they pile up.
 */
static void account_native_memory(napi_env env, int64_t bytes) {
  int64_t total;
  napi_adjust_external_memory(env, bytes, &total);
}

static void release_encoder(napi_env env, EncoderHandle *handle) {
  if (handle->encoder == NULL) return;
  opus_encoder_destroy(handle->encoder);
  handle->encoder = NULL;
  account_native_memory(env, -(int64_t)opus_encoder_get_size(CHANNELS));
}

static void finalize_encoder(napi_env env, void *data, void *hint) {
  (void)hint;
  EncoderHandle *handle = data;
  release_encoder(env, handle);
  free(handle);
  account_native_memory(env, -(int64_t)sizeof *handle);
}

static bool configure_encoder(napi_env env, OpusEncoder *encoder, napi_value options) {
  bool present;
  int bitrate, loss_percent, complexity;
  bool inband_fec;
  if (!read_optional_integer_option(env, options, "bitrate", 6000, 510000, &present, &bitrate)) return false;
  if (!present) {
    napi_throw_type_error(env, "ERR_MISSING_OPTION", "options.bitrate is required");
    return false;
  }
  int error = opus_encoder_ctl(encoder, OPUS_SET_BITRATE(bitrate));
  if (error == OPUS_OK) {
    if (!read_optional_boolean_option(env, options, "inbandFec", true, &inband_fec)) return false;
    error = opus_encoder_ctl(encoder, OPUS_SET_INBAND_FEC(inband_fec ? 1 : 0));
  }
  if (error == OPUS_OK) {
    if (!read_optional_integer_option(env, options, "packetLossPercent", 0, 100, &present, &loss_percent)) return false;
    if (present) error = opus_encoder_ctl(encoder, OPUS_SET_PACKET_LOSS_PERC(loss_percent));
  }
  if (error == OPUS_OK) {
    if (!read_optional_integer_option(env, options, "complexity", 0, 10, &present, &complexity)) return false;
    if (present) error = opus_encoder_ctl(encoder, OPUS_SET_COMPLEXITY(complexity));
  }
  if (error == OPUS_OK) {
    /* Audio bandwidth in Hz (4000, 6000, 8000, 12000 or 20000): capping it keeps the encoder in
       SILK-only mode, which costs a fraction of hybrid SILK+CELT on small CPUs. */
    int bandwidth_hz;
    if (!read_optional_integer_option(env, options, "maxBandwidthHz", 4000, 20000, &present, &bandwidth_hz)) return false;
    if (present) {
      int bandwidth;
      switch (bandwidth_hz) {
        case 4000: bandwidth = OPUS_BANDWIDTH_NARROWBAND; break;
        case 6000: bandwidth = OPUS_BANDWIDTH_MEDIUMBAND; break;
        case 8000: bandwidth = OPUS_BANDWIDTH_WIDEBAND; break;
        case 12000: bandwidth = OPUS_BANDWIDTH_SUPERWIDEBAND; break;
        case 20000: bandwidth = OPUS_BANDWIDTH_FULLBAND; break;
        default:
          napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "options.maxBandwidthHz must be 4000, 6000, 8000, 12000 or 20000");
          return false;
      }
      error = opus_encoder_ctl(encoder, OPUS_SET_MAX_BANDWIDTH(bandwidth));
    }
  }
  if (error != OPUS_OK) {
    throw_opus_error(env, "opus_encoder_ctl", error);
    return false;
  }
  return true;
}

/* new OpusEncoder({ bitrate, packetLossPercent?, complexity?, inbandFec? = true }) */
static napi_value encoder_construct(napi_env env, napi_callback_info info) {
  if (!require_construct_call(env, info, "OpusEncoder")) return NULL;
  size_t argc = 1;
  napi_value argv[1], self;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  napi_valuetype type = napi_undefined;
  if (argc >= 1) NAPI_CALL(env, napi_typeof(env, argv[0], &type));
  if (type != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "OpusEncoder expects an options object");
    return NULL;
  }

  int error = OPUS_OK;
  OpusEncoder *encoder = opus_encoder_create(SAMPLE_RATE, CHANNELS, OPUS_APPLICATION_VOIP, &error);
  if (error != OPUS_OK || encoder == NULL) {
    throw_opus_error(env, "opus_encoder_create", error != OPUS_OK ? error : OPUS_ALLOC_FAIL);
    return NULL;
  }
  if (!configure_encoder(env, encoder, argv[0])) {
    opus_encoder_destroy(encoder);
    return NULL;
  }
  EncoderHandle *handle = malloc(sizeof *handle);
  if (handle == NULL) {
    opus_encoder_destroy(encoder);
    throw_opus_error(env, "OpusEncoder allocation", OPUS_ALLOC_FAIL);
    return NULL;
  }
  handle->encoder = encoder;
  account_native_memory(env, (int64_t)(sizeof *handle + opus_encoder_get_size(CHANNELS)));
  if (napi_wrap(env, self, handle, finalize_encoder, NULL, NULL) != napi_ok) {
    finalize_encoder(env, handle, NULL);
    throw_napi_failure(env, "napi_wrap");
    return NULL;
  }
  NAPI_CALL(env, napi_type_tag_object(env, self, &ENCODER_TAG));
  return self;
}

/* encode(pcm: Int16Array) -> Buffer. pcm.length must be a frame size libopus accepts at 48 kHz. */
static napi_value encoder_encode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  EncoderHandle *handle = unwrap_open_encoder(env, info, &argc, argv);
  if (handle == NULL) return NULL;
  void *samples = NULL;
  size_t sample_count = 0;
  /* napi_get_cb_info pads missing arguments with undefined, which the readers reject. */
  if (!read_typed_array(env, argv[0], napi_int16_array, "pcm to be an Int16Array", &samples, &sample_count)) {
    return NULL;
  }
  if (sample_count == 0 || sample_count > MAX_FRAME_SAMPLES) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "pcm must hold one frame of 120 to 5760 samples");
    return NULL;
  }
  /* libopus reads exactly sample_count samples and rejects sizes that are not Opus frame sizes. */
  opus_int32 length = opus_encode(handle->encoder, samples, (int)sample_count, handle->packet, MAX_PACKET_BYTES);
  if (length < 0) {
    throw_opus_error(env, "opus_encode", length);
    return NULL;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_buffer_copy(env, (size_t)length, handle->packet, NULL, &result));
  return result;
}

/* close() frees the libopus state now rather than at garbage collection; closing twice is harmless. */
static napi_value encoder_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  EncoderHandle *handle = unwrap_handle(env, info, &ENCODER_TAG, "OpusEncoder", &argc, NULL);
  if (handle != NULL) release_encoder(env, handle);
  return NULL;
}

/* ---------- decoder ---------- */

static void release_decoder(napi_env env, DecoderHandle *handle) {
  if (handle->decoder == NULL) return;
  opus_decoder_destroy(handle->decoder);
  handle->decoder = NULL;
  account_native_memory(env, -(int64_t)opus_decoder_get_size(CHANNELS));
}

static void finalize_decoder(napi_env env, void *data, void *hint) {
  (void)hint;
  DecoderHandle *handle = data;
  release_decoder(env, handle);
  free(handle);
  account_native_memory(env, -(int64_t)sizeof *handle);
}

/* new OpusDecoder() */
static napi_value decoder_construct(napi_env env, napi_callback_info info) {
  if (!require_construct_call(env, info, "OpusDecoder")) return NULL;
  size_t argc = 0;
  napi_value self;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, NULL, &self, NULL));
  int error = OPUS_OK;
  OpusDecoder *decoder = opus_decoder_create(SAMPLE_RATE, CHANNELS, &error);
  if (error != OPUS_OK || decoder == NULL) {
    throw_opus_error(env, "opus_decoder_create", error != OPUS_OK ? error : OPUS_ALLOC_FAIL);
    return NULL;
  }
  DecoderHandle *handle = malloc(sizeof *handle);
  if (handle == NULL) {
    opus_decoder_destroy(decoder);
    throw_opus_error(env, "OpusDecoder allocation", OPUS_ALLOC_FAIL);
    return NULL;
  }
  handle->decoder = decoder;
  handle->last_frame_celt_only = false;
  account_native_memory(env, (int64_t)(sizeof *handle + opus_decoder_get_size(CHANNELS)));
  if (napi_wrap(env, self, handle, finalize_decoder, NULL, NULL) != napi_ok) {
    finalize_decoder(env, handle, NULL);
    throw_napi_failure(env, "napi_wrap");
    return NULL;
  }
  NAPI_CALL(env, napi_type_tag_object(env, self, &DECODER_TAG));
  return self;
}

/* decode(payload: Uint8Array) -> Int16Array holding all the audio the packet carries. */
static napi_value decoder_decode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  DecoderHandle *handle = unwrap_open_decoder(env, info, &argc, argv);
  if (handle == NULL) return NULL;
  const unsigned char *data = NULL;
  opus_int32 length = 0;
  if (!read_payload(env, argv[0], &data, &length)) return NULL;
  int samples = opus_decode(handle->decoder, data, length, handle->pcm, MAX_FRAME_SAMPLES, 0);
  if (samples < 0) {
    throw_opus_error(env, "opus_decode", samples);
    return NULL;
  }
  handle->last_frame_celt_only = toc_is_celt_only(data[0]);
  return make_int16_array(env, handle->pcm, (size_t)samples);
}

/*
 * decodeFec(nextPayload: Uint8Array, frameSamples: number) -> Int16Array | null: the frame before
 * nextPayload, frameSamples long, rebuilt from nextPayload's in-band FEC. Returns null (and leaves
 * the decoder untouched) when libopus would only conceal: the packet has no LBRR data, its frames
 * are longer than frameSamples, or the last decoded frame was CELT-only. Throws on a malformed packet.
 */
static napi_value decoder_decode_fec(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  DecoderHandle *handle = unwrap_open_decoder(env, info, &argc, argv);
  if (handle == NULL) return NULL;
  const unsigned char *data = NULL;
  opus_int32 length = 0;
  int frame_samples = 0;
  if (!read_payload(env, argv[0], &data, &length) || !read_frame_samples(env, argv[1], &frame_samples)) return NULL;
  int lbrr = packet_lbrr_flag(data, length);
  if (lbrr < 0) {
    throw_opus_error(env, "opus_packet_parse", lbrr);
    return NULL;
  }
  napi_value result;
  if (lbrr == 0 || handle->last_frame_celt_only ||
      opus_packet_get_samples_per_frame(data, SAMPLE_RATE) > frame_samples) {
    NAPI_CALL(env, napi_get_null(env, &result));
    return result;
  }
  int samples = opus_decode(handle->decoder, data, length, handle->pcm, frame_samples, 1);
  if (samples < 0) {
    throw_opus_error(env, "opus_decode (fec)", samples);
    return NULL;
  }
  handle->last_frame_celt_only = false;
  return make_int16_array(env, handle->pcm, (size_t)samples);
}

/* conceal(frameSamples: number) -> Int16Array of exactly frameSamples samples (packet loss concealment). */
static napi_value decoder_conceal(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  DecoderHandle *handle = unwrap_open_decoder(env, info, &argc, argv);
  if (handle == NULL) return NULL;
  int frame_samples = 0;
  if (!read_frame_samples(env, argv[0], &frame_samples)) return NULL;
  int samples = opus_decode(handle->decoder, NULL, 0, handle->pcm, frame_samples, 0);
  if (samples < 0) {
    throw_opus_error(env, "opus_decode (plc)", samples);
    return NULL;
  }
  return make_int16_array(env, handle->pcm, (size_t)samples);
}

static napi_value decoder_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  DecoderHandle *handle = unwrap_handle(env, info, &DECODER_TAG, "OpusDecoder", &argc, NULL);
  if (handle != NULL) release_decoder(env, handle);
  return NULL;
}

/* ---------- module functions ---------- */

static napi_value get_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  NAPI_CALL(env, napi_create_string_utf8(env, opus_get_version_string(), NAPI_AUTO_LENGTH, &result));
  return result;
}

/* packetHasFec(payload: Uint8Array) -> boolean (see packet_lbrr_flag). Throws on a malformed packet. */
static napi_value packet_has_fec(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const unsigned char *data = NULL;
  opus_int32 length = 0;
  if (!read_payload(env, argv[0], &data, &length)) return NULL;
  int lbrr = packet_lbrr_flag(data, length);
  if (lbrr < 0) {
    throw_opus_error(env, "opus_packet_parse", lbrr);
    return NULL;
  }
  napi_value result;
  NAPI_CALL(env, napi_get_boolean(env, lbrr == 1, &result));
  return result;
}

/* ---------- module ---------- */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor encoder_methods[] = {
      {"encode", NULL, encoder_encode, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, encoder_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_property_descriptor decoder_methods[] = {
      {"decode", NULL, decoder_decode, NULL, NULL, NULL, napi_default_method, NULL},
      {"decodeFec", NULL, decoder_decode_fec, NULL, NULL, NULL, napi_default_method, NULL},
      {"conceal", NULL, decoder_conceal, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, decoder_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value encoder_class, decoder_class;
  NAPI_CALL(env, napi_define_class(env, "OpusEncoder", NAPI_AUTO_LENGTH, encoder_construct, NULL,
                                   sizeof encoder_methods / sizeof encoder_methods[0], encoder_methods,
                                   &encoder_class));
  NAPI_CALL(env, napi_define_class(env, "OpusDecoder", NAPI_AUTO_LENGTH, decoder_construct, NULL,
                                   sizeof decoder_methods / sizeof decoder_methods[0], decoder_methods,
                                   &decoder_class));
  napi_property_descriptor exported[] = {
      {"OpusEncoder", NULL, NULL, NULL, NULL, encoder_class, napi_enumerable, NULL},
      {"OpusDecoder", NULL, NULL, NULL, NULL, decoder_class, napi_enumerable, NULL},
      {"version", NULL, get_version, NULL, NULL, NULL, napi_enumerable, NULL},
      {"packetHasFec", NULL, packet_has_fec, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof exported / sizeof exported[0], exported));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
