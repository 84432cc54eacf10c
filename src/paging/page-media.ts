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
  sendPageDatagram(datagram: Buffer, port: number, address: string): void;
  /** Starts playing the page (replacing any other); resolves once its decoder is ready. */
  playPage(request: PagePlayoutRequest): Promise<void>;
  /** Stops it and gives the call its full volume back; harmless for a page that is not playing. */
  stopPage(pageId: string): void;
  /** Milliseconds since the page's last authenticated packet, null before any (or not playing). */
  pageMsSinceLastPacket(pageId: string): number | null;
}
