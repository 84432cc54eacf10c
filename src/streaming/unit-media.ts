import type { IntercomConfig } from '../config/schema.js';
import type { Logger } from '../logging/logger.js';
import type { CallMedia } from '../calls/call-media.js';
import type { AudioBackend } from '../audio/audio-backend.js';
import { UdpTransport } from '../net/udp-transport.js';
import { CallAudio } from './call-audio.js';
import { openAudioBackend } from './audio-backend-loader.js';
import { CaptureProcessor } from '../audio-processing/capture-processor.js';
import type { SoundOutput } from '../sounds/call-sounds.js';
import type { SoftwareLevels } from '../audio/level-gain.js';
import type { SelfTestAudio } from '../selftest/unit-selftest.js';
import type { PageMedia } from '../paging/page-media.js';
import { PageMulticastSocket } from '../paging/page-multicast.js';

/** A unit's media engine with what it holds open: the sound devices and the UDP media socket. */
export interface UnitMedia {
  readonly callMedia: CallMedia;
  /** The speaker for the unit's own sounds (ring, ringback, busy), mixed with call audio. */
  readonly speaker: SoundOutput | null;
  /** Where volume, microphone gain and mute are applied when the card's mixer cannot (absent: nowhere). */
  readonly levels?: SoftwareLevels | null;
  /** The speaker and microphone for the acoustic self-test (absent: the unit has no such test). */
  readonly selfTest?: SelfTestAudio;
  /** Sends pages from the media socket and plays them mixed over calls (absent: the unit cannot page). */
  readonly paging?: PageMedia;
  /** Tells `listener` each time the sound devices open (the card's mixer may be new: levels go to it again). */
  onDevicesOpened?(listener: () => void): void;
  /** Binds the media socket and opens the devices (a missing device is retried, not fatal). */
  start(): Promise<{ udpPort: number | null }>;
  /** Closes the devices and the socket; harmless before start() and when called twice. */
  stop(): Promise<void>;
}

/** The real media of a unit: CallAudio over the configured sound devices and audio.udpPort. */
export async function createUnitMedia(config: IntercomConfig, logger: Logger): Promise<UnitMedia> {
  let backend: AudioBackend | null = null;
  try {
    backend = await openAudioBackend(logger, config.audio.backend);
  } catch (error) {
    logger.warn({ err: error }, 'audio backend unavailable; the unit runs without sound');
  }
  let transport: UdpTransport | null = null;
  // One canceller for the life of the unit: the room's echo path outlives a call, so the next call
  // starts converged.
  const processing = config.audio.processing;
  const processor = processing.enabled ? new CaptureProcessor(processing) : null;
  const devicesOpened: Array<() => void> = [];
  let multicast: PageMulticastSocket | null = null;
  const callAudio = new CallAudio({
    onDevicesOpened: () => {
      for (const listener of devicesOpened) listener();
    },
    processCapture: processor ? (mic, reference) => processor.process(mic, reference) : undefined,
    processingFigures: processor ? () => processor.figures() : undefined,
    settings: { ...config.audio, minDelayMs: config.jitter.minMs, maxDelayMs: config.jitter.maxMs },
    captureDevice: config.audio.captureDevice,
    playbackDevice: config.audio.playbackDevice,
    backend,
    logger: logger.child({ module: 'audio' }),
  });
  const paging: PageMedia = {
    get mediaPort() {
      return callAudio.mediaPort;
    },
    get multicast() {
      return multicast !== null;
    },
    sendPageDatagram: (datagram, port, address) => callAudio.sendPageDatagram(datagram, port, address),
    sendPageMulticast: (datagram) => {
      multicast?.send(datagram);
      return multicast !== null;
    },
    captureForPage: (listener) => callAudio.setPageCapture(listener),
    playPage: (request) => callAudio.playPage(request),
    stopPage: (pageId) => callAudio.stopPage(pageId),
    pageReception: (pageId) => callAudio.pageReception(pageId),
  };
  return {
    callMedia: callAudio,
    speaker: callAudio,
    levels: callAudio,
    selfTest: callAudio,
    paging,
    onDevicesOpened: (listener) => devicesOpened.push(listener),
    async start() {
      transport = await UdpTransport.bind({
        port: config.audio.udpPort,
        host: config.http.host,
        onDatagram: (datagram, from) => callAudio.onDatagram(datagram, from),
        onError: (error) => logger.warn({ err: error }, 'media socket error'),
      }).catch((error: Error) => {
        throw new Error(`cannot listen on UDP port ${config.audio.udpPort} (audio.udpPort): ${error.message}`);
      });
      callAudio.attachTransport(transport);
      if (config.paging.multicast) {
        multicast = await PageMulticastSocket.open({
          group: config.paging.multicastAddress,
          port: config.paging.port,
          interfaceAddress: config.http.host,
          onDatagram: (datagram, from) => callAudio.receivePageDatagram(datagram, from, true),
          logger: logger.child({ module: 'paging' }),
        }).catch((error: Error) => {
          logger.warn({ err: error, group: `${config.paging.multicastAddress}:${config.paging.port}` }, 'paging: cannot listen on the multicast group (paging.multicastAddress, paging.port); pages reach this unit over unicast');
          return null;
        });
      }
      await callAudio.openDevices();
      return { udpPort: transport.localPort };
    },
    async stop() {
      multicast?.close();
      multicast = null;
      await callAudio.close();
      await transport?.close();
      transport = null;
      await backend?.close();
      backend = null;
      processor?.close();
    },
  };
}
