import type { SrtpMasterKeys } from '../media/srtp.js';

/** What a member unit's media engine is told to play: one page's SRTP stream from the paging unit. */
export interface PagePlayoutRequest {
  pageId: string;
  /** The paging unit's address: only its datagrams with the page's SSRC are the page. */
  fromAddress: string;
  ssrc: number;
  /** The page's key (one per page, the same for every member), as the key exchange delivered it. */
  keys: SrtpMasterKeys;
  /** Gains from the playout policy (src/paging/page-policy.ts). */
  gain: number;
  callGain: number;
}

/**
 * The media engine as paging sees it (src/streaming/call-audio.ts implements it on the unit's
 * media socket and speaker): it sends a page's packets from the media socket, and plays one page
 * at a time mixed over the call, with the call's gain lowered meanwhile.
 */
export interface PageMedia {
  readonly mediaPort: number;
  /** Whether this unit listens on the site's paging multicast group (paging.multicast, and the group could be joined). */
  readonly multicast: boolean;
  sendPageDatagram(datagram: Buffer, port: number, address: string): void;
  /** Sends to the site's paging multicast group; false when this unit has no multicast socket. */
  sendPageMulticast(datagram: Buffer): boolean;
  /**
   * Hands each captured microphone frame (with the microphone gain and mute applied) to `listener`
   * while it is set, in or out of a call (a live page); null stops it.
   */
  captureForPage(listener: ((pcm: Int16Array) => void) | null): void;
  /** Starts playing the page (replacing any other); resolves once its decoder is ready. */
  playPage(request: PagePlayoutRequest): Promise<void>;
  /** Stops it and gives the call its full volume back; harmless for a page that is not playing. */
  stopPage(pageId: string): void;
  /**
   * How the page is arriving: milliseconds since its last authenticated packet (null before any)
   * and how many of its packets came over multicast; null when it is not playing.
   */
  pageReception(pageId: string): PageReception | null;
}

export interface PageReception {
  msSinceLastPacket: number | null;
  multicastPackets: number;
}
