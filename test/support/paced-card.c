/*
 * A sound card's clock for the mouth-to-ear benchmark: a real-time process that feeds a virtual
 * ALSA microphone (a FIFO behind alsa-lib's `file` plugin) and drains a virtual speaker (another
 * FIFO) at exactly the real-time rate, and logs when every byte went in and came out, so that the
 * programs under test are measured against a clock that other load on the machine cannot bend.
 *
 *   paced-card MIC_FIFO SPEAKER_FIFO MIC_INPUT.raw SPEAKER_OUTPUT.raw LOG [echo] [mic-rate=R] [speaker-rate=R]
 *
 * Both FIFOs must exist; this program holds them open read-write (so neither end ever sees EOF)
 * and sets them to one page (4096 bytes). Every 20 ms it writes 20 ms (1920 bytes, S16LE 48 kHz
 * mono) into the microphone: silence until it reads "play" on stdin, then MIC_INPUT, then silence
 * again. Every 5 ms it reads 5 ms from the speaker into SPEAKER_OUTPUT (what a program left out
 * is owed for at most 20 ms, then lost, like a card that underran). The clock is the schedule:
 * steps this process ran late are run at once, each still counting its own 1 ms. Every 1 ms it notes how many bytes wait
 * in the speaker pipe. It prints "ready" once the FIFOs are held, "playing" when the input starts,
 * and "done" when the input has been written; SIGTERM ends it. With "echo", what the speaker plays
 * is also heard by the microphone (an acoustic echo path), by the card's clock: what a speaker
 * step reads is heard from the time the first of it was due (a read catching up what was owed
 * plays it when it was owed), and each microphone chunk carries what was heard in the
 * 20 ms up to 20 ms before it (what is owed is owed for at most 20 ms, so by then it is heard). A speaker that ran dry leaves silence in the echo, so the
 * echo keeps its time however the speaker was fed. "mic-rate=0.9" makes the microphone a card
 * whose clock runs 10% slow (a 20 ms chunk every 22.2 ms of real time), "speaker-rate=0.75" a
 * speaker that plays only 75% of real time (as an emulated board's does); both default to 1.
 *
 * LOG lines (times: CLOCK_MONOTONIC, ns, of the card's schedule: a step this process ran late is
 * logged at the time the card's clock gave it):
 *   M <t> <input byte offset or -1 for silence> <1 written | 0 pipe full, dropped>
 *     (a chunk of input, or one this process made running late, waits for room; its line is
 *     logged when it went in)
 *   S <t> <bytes written into the speaker so far (read + waiting in the pipe)> <bytes read so far, after this step> <ns this step ran late>
 *     <bytes of play time lost so far: owed for longer than 20 ms, as a card that underran skips them>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RATE_BYTES_PER_MS 96
#define MIC_CHUNK 1920
#define STEP_NS 1000000LL
#define SPEAKER_EVERY_STEPS 5
#define MIC_EVERY_STEPS 20
#define CATCH_UP_BYTES (20 * RATE_BYTES_PER_MS)
#define PIPE_BYTES 4096
#define ECHO_SAMPLES 48000                 /* 1 s of what the microphone hears, by card time */
#define SAMPLES_PER_STEP 48
#define MIC_QUEUE_CHUNKS 5                 /* 100 ms of microphone waiting for room in its pipe */
#define MIC_CHUNK_SAMPLES (MIC_CHUNK / 2)

static volatile sig_atomic_t stopping = 0;
static void on_term(int sig) { (void)sig; stopping = 1; }

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int hold_fifo(const char *path) {
  int fd = open(path, O_RDWR | O_NONBLOCK);
  if (fd < 0) { perror(path); exit(2); }
  if (fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES) < 0) { perror("F_SETPIPE_SZ"); exit(2); }
  return fd;
}

int main(int argc, char **argv) {
  int echo = 0;
  double mic_rate = 1, speaker_rate = 1;
  int usage = argc < 6;
  for (int i = 6; i < argc && !usage; i++) {
    if (strcmp(argv[i], "echo") == 0) echo = 1;
    else if (strncmp(argv[i], "mic-rate=", 9) == 0) mic_rate = atof(argv[i] + 9);
    else if (strncmp(argv[i], "speaker-rate=", 13) == 0) speaker_rate = atof(argv[i] + 13);
    else usage = 1;
  }
  if (usage || mic_rate < 0.1 || mic_rate > 10 || speaker_rate < 0.1 || speaker_rate > 10) {
    fprintf(stderr, "usage: %s MIC_FIFO SPEAKER_FIFO MIC_INPUT.raw SPEAKER_OUTPUT.raw LOG [echo] [mic-rate=R] [speaker-rate=R]\n", argv[0]);
    return 2;
  }
  /* echo_ring[t % ECHO_SAMPLES]: what the microphone hears at card time t (in samples). */
  static int16_t echo_ring[ECHO_SAMPLES];
  static int16_t step_echo[CATCH_UP_BYTES / 2 + 64];
  int odd_byte = -1;
  int mic = hold_fifo(argv[1]);
  int speaker = hold_fifo(argv[2]);
  FILE *input = fopen(argv[3], "rb");
  FILE *output = fopen(argv[4], "wb");
  FILE *log = fopen(argv[5], "w");
  if (!input || !output || !log) { perror("open"); return 2; }
  setvbuf(log, NULL, _IOFBF, 1 << 20);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGPIPE, SIG_IGN);

  /* The clock must not be bent by the programs it measures or by other jobs: real-time priority
   * where allowed (root), memory locked. Without it the figures are noisier, not wrong. */
  struct sched_param param = { .sched_priority = 30 };
  if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) fprintf(stderr, "paced-card: no real-time priority (%s)\n", strerror(errno));
  mlockall(MCL_CURRENT | MCL_FUTURE);

  int flags = fcntl(0, F_GETFL);
  fcntl(0, F_SETFL, flags | O_NONBLOCK);
  printf("ready\n");
  fflush(stdout);

  /* keep: wait for room in the pipe (input, or a chunk this process made late) instead of being
   * dropped as an overrun drops it. */
  typedef struct { unsigned char bytes[MIC_CHUNK]; long offset; int keep; } mic_chunk;
  static mic_chunk queue[MIC_QUEUE_CHUNKS];
  int queue_head = 0, queued = 0;
  unsigned char scratch[CATCH_UP_BYTES + 64];
  int playing = 0, finished = 0;
  long input_offset = 0;
  long long speaker_total = 0;
  double budget = 0, lost_bytes = 0;
  int64_t start = now_ns(), last_drain = start;
  long long mic_ticks = 0;
  for (long long step = 0; !stopping; step++) {
    int64_t due = start + step * STEP_NS;
    struct timespec at = { .tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR && !stopping) {}
    const int64_t late_ns = now_ns() - due;
    const long long heard_until = step * SAMPLES_PER_STEP;
    /* The millisecond that starts now is silent until a speaker step plays into it. */
    if (echo) for (int i = 0; i < SAMPLES_PER_STEP; i++) echo_ring[(heard_until + i) % ECHO_SAMPLES] = 0;

    if (!playing) {
      char command[64];
      ssize_t n = read(0, command, sizeof command);
      if (n > 0 && memmem(command, (size_t)n, "play", 4)) playing = 1;
    }
    if ((double)step * mic_rate >= (double)mic_ticks * MIC_EVERY_STEPS) {
      mic_ticks++;
      if (queued == MIC_QUEUE_CHUNKS) {
        /* Nothing has read the microphone for 100 ms: this period is lost, as in an overrun
         * (input waits: a chunk of it is made only when there is room). */
        fprintf(log, "M %lld -1 0\n", (long long)due);
      } else {
        mic_chunk *chunk = &queue[(queue_head + queued++) % MIC_QUEUE_CHUNKS];
        memset(chunk->bytes, 0, sizeof chunk->bytes);
        chunk->offset = -1;
        chunk->keep = late_ns > STEP_NS;
        if (playing && !finished) {
          size_t got = fread(chunk->bytes, 1, sizeof chunk->bytes, input);
          if (got > 0) {
            chunk->offset = input_offset;
            chunk->keep = 1;
            input_offset += (long)got;
            if (chunk->offset == 0) { printf("playing\n"); fflush(stdout); }
          }
          if (got < sizeof chunk->bytes) { finished = 1; printf("done\n"); fflush(stdout); }
        }
        if (echo) {
          /* The 20 ms heard up to 20 ms ago: a later speaker step may still catch up into them. */
          const long long from = heard_until - CATCH_UP_BYTES / 2 - MIC_CHUNK_SAMPLES;
          int16_t *samples = (int16_t *)chunk->bytes;
          for (int i = 0; i < MIC_CHUNK_SAMPLES && from + i >= 0; i++) {
            int sum = samples[i] + echo_ring[(from + i) % ECHO_SAMPLES];
            samples[i] = (int16_t)(sum > 32767 ? 32767 : sum < -32768 ? -32768 : sum);
          }
        }
      }
    }
    /* Into the pipe as soon as it has room (tried every step): input, and what this process made
     * while it was held up itself, is delayed, not lost; silence that finds the pipe full is
     * dropped (nobody read the microphone in time: an overrun). */
    while (queued > 0) {
      mic_chunk *chunk = &queue[queue_head];
      const int written = write(mic, chunk->bytes, sizeof chunk->bytes) == (ssize_t)sizeof chunk->bytes; /* <= PIPE_BUF: all or nothing */
      if (!written && chunk->keep) break;
      fprintf(log, "M %lld %ld %d\n", (long long)due, chunk->offset, written);
      queue_head = (queue_head + 1) % MIC_QUEUE_CHUNKS;
      queued--;
    }
    int waiting = 0;
    ioctl(speaker, FIONREAD, &waiting);
    long long written_before = speaker_total + waiting;
    if (step % SPEAKER_EVERY_STEPS == 0) {
      /* The card's clock is the schedule (`due`), not when this process got to run: a step run
       * late (a log write held up by a busy disk) still plays its 5 ms, so the card never loses
       * time to its own lateness, only to a program that left the pipe empty. */
      budget += (double)(due - last_drain) / 1e6 * RATE_BYTES_PER_MS * speaker_rate;
      if (budget > CATCH_UP_BYTES) {
        lost_bytes += budget - CATCH_UP_BYTES;
        budget = CATCH_UP_BYTES;
      }
      last_drain = due;
      int want = (int)budget & ~1;
      int step_samples = 0;
      /* What is owed was due that long ago: this step's read plays from then on. */
      const long long plays_from = heard_until - want / 2;
      while (want > 0) {
        ssize_t got = read(speaker, scratch, (size_t)want);
        if (got <= 0) break;
        fwrite(scratch, 1, (size_t)got, output);
        if (echo) {
          /* whole samples: a read of an odd byte count leaves its last byte for the next read */
          for (ssize_t b = 0; b < got; b++) {
            if (odd_byte < 0) { odd_byte = scratch[b]; continue; }
            step_echo[step_samples++] = (int16_t)(odd_byte | (scratch[b] << 8));
            odd_byte = -1;
          }
        }
        speaker_total += got;
        budget -= (double)got;
        want -= (int)got;
      }
      for (int i = 0; i < step_samples; i++) echo_ring[(plays_from + i + ECHO_SAMPLES) % ECHO_SAMPLES] = step_echo[i];
    }
    fprintf(log, "S %lld %lld %lld %lld %lld\n", (long long)due, written_before, speaker_total, (long long)late_ns, (long long)lost_bytes);
  }
  fflush(output);
  fflush(log);
  return 0;
}
