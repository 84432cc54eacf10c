import { randomInt } from 'node:crypto';
import { CALL_RECEIVE_FIGURES, type AudioDeviceState, type CallMedia, type CallMediaStats, type MediaEndpoint } from '../calls/call-media.js';
import { emptyReceiveStats, type ReceiveStats } from '../media/receive-stats.js';
import type { AudioBackend, CapturedFrame, DuplexStream, PlayoutTiming } from '../audio/audio-backend.js';
import { frameSamplesFor } from '../codec/codec.js';
import type { MediaSender } from '../media/media-sender.js';
import type { MediaReceiver } from '../media/media-receiver.js';
import type { UdpTransport, DatagramSource } from '../net/udp-transport.js';
import type { Logger } from '../logging/logger.js';
import { createMediaReceiver, createMediaSender, loadCodec, type ReceiveSettings } from './stream-setup.js';
import { agreeOnSrtp, createSrtpOffer, type SrtpOffer } from '../media/srtp-negotiation.js';
import { startFrameClock, type FrameClock } from './frame-clock.js';
import { mixInto, type LocalSoundSource } from './local-sound.js';
import { scaled, type SoftwareLevels } from '../audio/level-gain.js';
import type { PagePlayoutRequest, PageReception } from '../paging/page-media.js';

/**
 * What is done to each captured frame before it is encoded, with the playback reference aligned
 * to it (echo cancellation plugs in here). Returns the frame to send; identity by default.
 */
export type CaptureProcessor = (mic: Int16Array, reference: Int16Array) => Int16Array;

interface ActiveCall {
  callId: string;
  /** Settles once the codecs are loaded and audio flows (or could not start). */
  started?: Promise<void>;
  localSsrc: number;
  /** The keys this side sends with, offered to the peer; absent when audio.srtp is false. */
  localCrypto?: SrtpOffer;
  remote?: MediaEndpoint;
  sender?: MediaSender;
  receiver?: MediaReceiver;
  strayDatagrams: number;
}

export interface CallAudioSettings extends ReceiveSettings {
  /**
   * audio.srtp: encrypt and authenticate call audio with SRTP under fresh keys per call. Only an
   * explicit false allows plain RTP, and then only with a peer that is configured the same way.
   */
  srtp?: boolean;
}

export interface CallAudioOptions {
  /** The capture processing's figures for the status (absent: no processing). */
  processingFigures?: () => object;
  settings: CallAudioSettings;
  captureDevice: string;
  playbackDevice: string;
  /** Null when no audio backend could be loaded at all. */
  backend: AudioBackend | null;
  logger: Logger;
  now?: () => number;
  /** See CaptureProcessor; can also be set later with setCaptureProcessor(). */
  processCapture?: CaptureProcessor;
  /** Called each time the sound devices have opened (at start, and after a card came back). */
  onDevicesOpened?: () => void;
}

/**
 * The media engine of a running unit. The sound card is opened once, when the service starts, as
 * one duplex stream; it runs while there is something to play or capture (a call with audio, or
 * the unit's own sound: ring, ringback, busy) and is stopped in between, so an idle unit costs
 * nothing. During a call, each captured frame (with what the speaker was playing meanwhile, for
 * echo cancellation) goes through the capture processor and out as a packet to the peer, and the
 * playback device's clock pulls frames from the call's jitter buffer, mixed with the unit's own
 * sound if one plays.
 *
 * Without a sound card the unit still takes calls: during a call a frame clock sends silence and
 * drains the receiver, so the peer hears nothing but the call, its statistics and its liveness work.
 */
export class CallAudio implements CallMedia, SoftwareLevels {
  private transport?: UdpTransport;
  private duplex?: DuplexStream;
  private call?: ActiveCall;
  /** The page this unit plays (one at a time; see src/paging/page-policy.ts), mixed over the call. */
  private page?: PlayingPage;
  /** The call's gain on the speaker: below 1 while a page plays over it. */
  private callGain = 1;
  private localSound: LocalSoundSource | null = null;
  private micTap: ((mic: Int16Array, reference: Int16Array) => void) | null = null;
  private pageCapture: ((pcm: Int16Array) => void) | null = null;
  private processCapture: CaptureProcessor;
  private fallbackClock?: FrameClock;
  private readonly frameSamples: number;
  private readonly silence: Int16Array;
  private readonly now: () => number;
  private reopenTimer?: NodeJS.Timeout;
  /**
   * Failed opens in a row. The devices are retried until they open, sooner after a device that
   * just failed (a USB card replugged) and then less often (a card plugged in after boot, or a
   * slow board whose first open timed out), so a unit without a card costs little.
   */
  private failedOpens = 0;
  private closed = false;
  /** Software gains (1 when the card's mixer sets the level) and the microphone mute; see AudioLevels. */
  private playbackGain = 1;
  private captureGain = 1;
  private micMuted = false;
  deviceError: string | null = null;

  constructor(private readonly options: CallAudioOptions) {
    this.frameSamples = frameSamplesFor(options.settings.frameMs);
    this.silence = new Int16Array(this.frameSamples);
    this.now = options.now ?? (() => performance.now());
    this.processCapture = options.processCapture ?? ((mic) => mic);
  }

  /** Installs the capture processor (echo cancellation); identity until then. */
  setCaptureProcessor(processor: CaptureProcessor | null): void {
    this.processCapture = processor ?? ((mic) => mic);
  }

  /** Scales everything the speaker plays (call audio and the unit's own sounds) by `factor`. */
  setPlaybackGain(factor: number): void {
    this.playbackGain = factor;
  }

  /** Scales the microphone by `factor` before the capture processor (the canceller sees the level that is sent). */
  setCaptureGain(factor: number): void {
    this.captureGain = factor;
  }

  /** While muted, calls carry silence from this unit; the capture processor keeps running, so it stays converged. */
  setMicMuted(muted: boolean): void {
    this.micMuted = muted;
  }

  get microphoneMuted(): boolean {
    return this.micMuted;
  }

  /**
   * Plays the unit's own sound (ring, ringback, busy tone) on the speaker, mixed with call audio
   * when a call is on, until the source ends (returns null) or another one replaces it; null stops
   * it. The devices start for it when the unit is idle (sound within a few ms).
   */
  setLocalSound(source: LocalSoundSource | null): void {
    this.localSound = source;
    this.updateRelaying();
  }

  /**
   * Hands every captured frame (raw, before gain and processing) with the reference of the same
   * moment to `tap`, in or out of a call (the acoustic self-test); null stops it. The devices run
   * while a tap is set.
   */
  setMicTap(tap: ((mic: Int16Array, reference: Int16Array) => void) | null): void {
    this.micTap = tap;
    this.updateRelaying();
  }

  /** Hands every captured frame (gain and mute applied) to `listener` while set: a live page from this unit's microphone. */
  setPageCapture(listener: ((pcm: Int16Array) => void) | null): void {
    this.pageCapture = listener;
    this.updateRelaying();
  }

  /** Whether the unit's own sound is playing. */
  get localSoundPlaying(): boolean {
    return this.localSound !== null;
  }

  /** Whether calls' audio is SRTP-protected (everything but an explicit audio.srtp false). */
  get encrypted(): boolean {
    return this.options.settings.srtp !== false;
  }

  get audioAvailable(): boolean {
    return this.duplex !== undefined;
  }

  /** The sound devices' own figures (xruns, late answers, reference offset), for logs and benchmarks. */
  deviceStats(): object | null {
    return this.duplex?.stats() ?? null;
  }

  audioState(): AudioDeviceState {
    return {
      available: this.audioAvailable,
      captureDevice: this.duplex?.captureDevice ?? null,
      playbackDevice: this.duplex?.playbackDevice ?? null,
      error: this.deviceError,
      encrypted: this.encrypted,
      processing: this.options.processingFigures?.() ?? null,
    };
  }

  /** Binds the media socket's handler; call once the UDP socket exists. */
  attachTransport(transport: UdpTransport): void {
    this.transport = transport;
  }

  /** Routes one datagram from the media socket to the active call, if it belongs to it. */
  onDatagram(datagram: Buffer, from: DatagramSource): void {
    // A page's packets come from the paging unit with the page's SSRC (clear in the SRTP header);
    // everything else is the call's to judge.
    if (this.receivePageDatagram(datagram, from, false)) return;
    const call = this.call;
    if (!call?.receiver || !call.remote) return;
    if (from.address !== call.remote.address && !sameHost(from.address, call.remote.address)) {
      call.strayDatagrams += 1;
      return;
    }
    call.receiver.receiveDatagram(datagram, this.now());
  }

  /** Opens the sound devices; failure leaves the unit running without audio and says why. */
  async openDevices(): Promise<void> {
    const { backend, logger } = this.options;
    if (this.closed) return;
    // The codec (the Opus addon) loads now, not when the first call starts and its audio is due.
    loadCodec(this.options.settings.format).catch((error: Error) => logger.warn({ err: error }, 'the codec could not be loaded; calls will fail to start audio'));
    if (!backend) {
      this.deviceError = 'no audio backend available';
      this.updateRelaying();
      return;
    }
    try {
      this.duplex ??= await backend.openDuplex({
        captureDevice: this.options.captureDevice,
        playbackDevice: this.options.playbackDevice,
        frameSamples: this.frameSamples,
        onCapture: (frame) => this.captured(frame),
        nextFrame: (timing) => this.nextPlaybackFrame(timing),
        onError: (error) => this.deviceFailed(error),
      });
      this.deviceError = null;
      this.failedOpens = 0;
      this.updateRelaying();
      logger.info({ capture: this.duplex.captureDevice, playback: this.duplex.playbackDevice }, 'audio devices open');
      this.options.onDevicesOpened?.();
    } catch (error) {
      const message = (error as Error).message;
      const retryInMs = reopenDelayMs(this.failedOpens);
      // The same failure every half minute on a unit without a card is one warning, not thousands.
      const level = message === this.deviceError ? 'debug' : 'warn';
      this.deviceError = message;
      this.failedOpens += 1;
      logger[level]({ err: error, retryInMs }, 'audio unavailable; calls will carry silence until the devices open');
      await this.closeDevices();
      this.updateRelaying();
      this.scheduleReopen(retryInMs);
    }
  }

  prepare(callId: string): MediaEndpoint {
    if (this.call && this.call.callId !== callId) this.stop(this.call.callId);
    // Asked again for the same call, it answers the same: same SSRC, same keys.
    this.call ??= {
      callId,
      localSsrc: randomInt(1, 2 ** 32 - 1),
      localCrypto: this.encrypted ? createSrtpOffer() : undefined,
      strayDatagrams: 0,
    };
    const call = this.call;
    return {
      address: '',
      udpPort: this.transport?.localPort ?? 0,
      format: this.options.settings.format,
      ssrc: call.localSsrc,
      frameMs: this.options.settings.frameMs,
      ...(call.localCrypto ? { crypto: call.localCrypto } : {}),
    };
  }

  /**
   * Each side's endpoint says what it receives (as in SDP offer/answer): this unit sends in the
   * peer's format and decodes its own, so units configured with different audio.format still talk.
   */
  start(callId: string, remote: MediaEndpoint): void {
    this.prepare(callId);
    const call = this.call!;
    const own = this.options.settings;
    // Thrown to the call service, which ends the call on both sides (the accept exchange answers media-failed).
    // Capture delivers this unit's frame size and the jitter buffer plays it: no reframing.
    if (remote.frameMs !== own.frameMs) {
      throw new Error(`call audio refused: the peer uses ${remote.frameMs} ms frames and this unit ${own.frameMs} ms (audio.frameMs must be the same on every unit of a site)`);
    }
    const agreement = agreeOnSrtp(call.localCrypto, remote.crypto);
    if (!agreement.ok) throw new Error(`call audio refused: ${agreement.reason}`);
    const srtp = agreement.keys;
    if (srtp && (remote.format === 'seed' || own.format === 'seed')) {
      const who = own.format === 'seed' ? 'this unit' : 'the peer';
      throw new Error(`call audio refused: ${who} uses the seed format, which SRTP cannot protect (it is not RTP); set audio.srtp false on both units for it`);
    }
    call.remote = remote;
    this.updateRelaying();
    const sendSettings = { ...own, format: remote.format };
    // The seed format carries no SSRC to check.
    const expectedSsrc = own.format === 'seed' ? undefined : remote.ssrc;
    // Codecs load asynchronously (the Opus addon on first use); audio starts when they are ready.
    call.started = Promise.all([createMediaSender(sendSettings, call.localSsrc, srtp?.send), createMediaReceiver(own, expectedSsrc, srtp?.receive)])
      .then(([sender, receiver]) => {
        if (this.call !== call) {
          sender.close();
          receiver.close();
          return;
        }
        call.sender = sender;
        call.receiver = receiver;
        this.options.logger.info(
          { callId, remote: `${remote.address}:${remote.udpPort}`, sendFormat: remote.format, receiveFormat: own.format, encrypted: srtp !== null },
          'call audio started',
        );
      })
      .catch((error: Error) => {
        this.options.logger.error({ err: error, callId }, 'call audio could not start');
        throw error;
      });
    // Whoever awaits it (the call service) hears of a failure; nobody else must see it unhandled.
    call.started.catch(() => undefined);
  }

  /** Resolves when the call's audio has started; rejects with the reason when it could not. */
  async whenStarted(callId: string): Promise<void> {
    if (this.call?.callId === callId) await this.call.started;
  }

  stop(callId: string): void {
    if (this.call?.callId !== callId) return;
    const stats = this.stats(callId);
    const { sender, receiver } = this.call;
    this.call = undefined;
    this.updateRelaying();
    sender?.close();
    receiver?.close();
    this.options.logger.info({ callId, stats, device: this.deviceStats() }, 'call audio stopped');
  }

  stats(callId: string): CallMediaStats | null {
    const call = this.call;
    if (!call || call.callId !== callId) return null;
    const received = call.receiver?.stats() ?? emptyReceiveStats();
    const lastValid = call.receiver?.lastPacketArrivalMs ?? null;
    const figures = Object.fromEntries(CALL_RECEIVE_FIGURES.map((name) => [name, received[name]])) as Pick<ReceiveStats, (typeof CALL_RECEIVE_FIGURES)[number]>;
    return {
      ...figures,
      packetsMalformed: received.packetsMalformed + call.strayDatagrams,
      packetsSent: call.sender?.packetsSent ?? 0,
      // Only packets the receiver accepted (parsed, authenticated, the announced SSRC) count as
      // liveness: junk from the peer's address must not keep a dead call alive.
      msSinceLastPacket: lastValid === null ? null : this.now() - lastValid,
    };
  }

  /** The UDP port pages are sent from and received on (the media socket), or 0 before it is bound. */
  get mediaPort(): number {
    return this.transport?.localPort ?? 0;
  }

  sendPageDatagram(datagram: Buffer, port: number, address: string): void {
    this.transport?.send(datagram, port, address);
  }

  async playPage(request: PagePlayoutRequest): Promise<void> {
    if (this.page) this.stopPage(this.page.pageId);
    const page: PlayingPage = { pageId: request.pageId, fromAddress: request.fromAddress, ssrc: request.ssrc >>> 0, gain: request.gain, multicastPackets: 0, accepted: new Map() };
    this.page = page;
    this.callGain = request.callGain;
    const own = this.options.settings;
    const receiver = await createMediaReceiver({ ...own, format: 'rtp-opus' }, request.ssrc, request.keys);
    if (this.page !== page) {
      receiver.close();
      return;
    }
    page.receiver = receiver;
    this.updateRelaying();
    this.options.logger.info({ pageId: request.pageId, from: request.fromAddress, gain: request.gain, callGain: request.callGain }, 'page playout started');
  }

  stopPage(pageId: string): void {
    const page = this.page;
    if (page?.pageId !== pageId) return;
    this.page = undefined;
    this.callGain = 1;
    this.updateRelaying();
    const stats = page.receiver?.stats();
    page.receiver?.close();
    this.options.logger.info({ pageId, packetsReceived: stats?.packetsReceived ?? 0, packetsLost: stats?.packetsLost ?? 0 }, 'page playout stopped');
  }

  /** Plays `datagram` if it is a packet of the page playing (from its unit, with its SSRC); false otherwise. */
  receivePageDatagram(datagram: Buffer, from: DatagramSource, viaMulticast: boolean): boolean {
    const page = this.page;
    if (!page?.receiver || rtpSsrcOf(datagram) !== page.ssrc || !sameHost(from.address, page.fromAddress)) return false;
    const sequence = datagram.readUInt16BE(2);
    if (page.receiver.receiveDatagram(datagram, this.now())) {
      if (viaMulticast) page.multicastPackets += 1;
      // Kept briefly: the same packet may come again by the other path (the paging unit sends both
      // while it finds out whether multicast reaches this unit), and SRTP refuses it as a replay.
      page.accepted.set(sequence, datagram);
      if (page.accepted.size > 64) page.accepted.delete(page.accepted.keys().next().value!);
    } else if (viaMulticast && page.accepted.get(sequence)?.equals(datagram)) {
      // A byte-identical copy of an authenticated packet: multicast delivers the page here.
      page.multicastPackets += 1;
    }
    return true;
  }

  pageReception(pageId: string): PageReception | null {
    if (this.page?.pageId !== pageId) return null;
    const last = this.page.receiver?.lastPacketArrivalMs ?? null;
    return { msSinceLastPacket: last === null ? null : this.now() - last, multicastPackets: this.page.multicastPackets };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.page) this.stopPage(this.page.pageId);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.call) this.stop(this.call.callId);
    this.stopFallbackClock();
    await this.closeDevices();
  }

  private captured(frame: CapturedFrame): void {
    this.micTap?.(frame.mic, frame.reference);
    if (this.pageCapture) this.pageCapture(this.micMuted ? this.silence : scaled(frame.mic, this.captureGain));
    const call = this.call;
    if (!call?.sender || !call.remote || !this.transport) return;
    const mic = scaled(frame.mic, this.captureGain);
    let pcm = mic;
    try {
      pcm = this.processCapture(mic, frame.reference);
    } catch (error) {
      this.options.logger.error({ err: error }, 'capture processing threw; the frame goes out unprocessed');
    }
    this.sendCaptured(this.micMuted ? this.silence : pcm, frame.position);
  }

  private sendCaptured(pcm: Int16Array, position?: number): void {
    const call = this.call;
    if (!call?.sender || !call.remote || !this.transport) return;
    this.transport.send(call.sender.sendFrame(pcm, position), call.remote.udpPort, call.remote.address);
  }

  private nextPlaybackFrame(timing?: PlayoutTiming): Int16Array {
    return scaled(this.mixedPlaybackFrame(timing), this.playbackGain);
  }

  private mixedPlaybackFrame(timing?: PlayoutTiming): Int16Array {
    const receiver = this.call?.receiver;
    const pageReceiver = this.page?.receiver;
    // Due at playout time minus the device's steady output delay: the device's clock, not the
    // moment this service got round to answering (the real time base when a backend has none).
    const dueAtMs = timing && !this.options.now ? timing.playoutAtMs - timing.outputDelayMs : this.now();
    const outputDelayMs = timing?.outputDelayMs ?? 0;
    // A device that plays what it is given gets all the call (or page) has decoded, and the rest
    // is mixed to that length; otherwise a frame.
    const lead = receiver ?? pageReceiver;
    const leadAudio = lead && timing?.samples !== undefined ? lead.readAvailable(dueAtMs, outputDelayMs, timing.samples) : null;
    const samples = leadAudio?.length ?? this.frameSamples;
    const read = (from: MediaReceiver) => (from === lead && leadAudio ? leadAudio : from.readFrame(dueAtMs, outputDelayMs, samples));
    const callAudio = receiver ? read(receiver) : null;
    let callFrame = callAudio && this.callGain !== 1 ? scaled(callAudio, this.callGain) : callAudio;
    if (pageReceiver) {
      const pageFrame = scaled(read(pageReceiver), this.page!.gain);
      callFrame = callFrame ? mixInto(callFrame === callAudio ? callFrame.slice() : callFrame, pageFrame) : pageFrame;
    }
    const silence = samples === this.frameSamples ? this.silence : new Int16Array(samples);
    const source = this.localSound;
    if (!source) return callFrame ?? silence;
    let own: Int16Array | null = null;
    try {
      own = source.nextFrame(samples);
    } catch (error) {
      this.options.logger.error({ err: error }, 'the local sound failed; it stops');
    }
    if (own === null) {
      // Ended: the devices may stop (after this frame) if nothing else plays.
      if (this.localSound === source) this.localSound = null;
      queueMicrotask(() => this.updateRelaying());
      return callFrame ?? silence;
    }
    return mixInto(callFrame ? callFrame.slice() : new Int16Array(samples), own);
  }

  /**
   * The devices run while a call has a peer to talk to or the unit plays its own sound, and are
   * stopped otherwise; captured audio is wanted only in a call. Without devices, a frame clock
   * stands in for them, and only during a call.
   */
  private updateRelaying(): void {
    const inCall = this.call?.remote !== undefined;
    const active = !this.closed && (inCall || this.localSound !== null || this.micTap !== null || this.page !== undefined || this.pageCapture !== null);
    if (this.duplex) {
      this.duplex.setCaptureWanted(inCall || this.micTap !== null || this.pageCapture !== null);
      if (this.duplex.active !== active) {
        this.duplex.setActive(active).catch((error: Error) => this.deviceFailed(error));
      }
    }
    if ((inCall || this.page) && !this.audioAvailable) this.startFallbackClock();
    else this.stopFallbackClock();
  }

  private startFallbackClock(): void {
    if (this.fallbackClock || this.closed) return;
    this.fallbackClock = startFrameClock(this.options.settings.frameMs, () => {
      this.sendCaptured(this.silence);
      this.nextPlaybackFrame();
    });
  }

  private stopFallbackClock(): void {
    this.fallbackClock?.stop();
    this.fallbackClock = undefined;
  }

  private async closeDevices(): Promise<void> {
    const duplex = this.duplex;
    this.duplex = undefined;
    await duplex?.close().catch(() => undefined);
  }

  private deviceFailed(error: Error): void {
    if (this.closed) return;
    this.options.logger.error({ err: error }, 'audio device failed; reopening');
    this.deviceError = error.message;
    void this.closeDevices().then(() => {
      this.updateRelaying();
      this.scheduleReopen(reopenDelayMs(this.failedOpens));
    });
  }

  /** One pending reopen at a time: capture and playback failing together must not open the devices twice. */
  private scheduleReopen(delayMs: number): void {
    if (this.closed || this.reopenTimer) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.openDevices();
    }, delayMs);
  }
}

interface PlayingPage {
  pageId: string;
  fromAddress: string;
  ssrc: number;
  gain: number;
  multicastPackets: number;
  /** The last authenticated packets by sequence number (see receivePageDatagram). */
  accepted: Map<number, Buffer>;
  receiver?: MediaReceiver;
}

/** The SSRC of an RTP/SRTP datagram (bytes 8-11, never encrypted), or null when it is too short to be one. */
function rtpSsrcOf(datagram: Buffer): number | null {
  return datagram.length >= 12 && datagram[0] >> 6 === 2 ? datagram.readUInt32BE(8) : null;
}

/** Every 2 s for the first five tries (a card replugged is back within seconds), then doubling up to 30 s. */
export function reopenDelayMs(failedOpens: number): number {
  return failedOpens < 5 ? 2_000 : Math.min(2_000 * 2 ** (failedOpens - 4), 30_000);
}

/** IPv4-mapped IPv6 ("::ffff:10.0.0.5") and plain IPv4 name the same host. */
function sameHost(a: string, b: string): boolean {
  const strip = (address: string) => address.replace(/^::ffff:/, '');
  return strip(a) === strip(b);
}
