/**
 * Firmware packages over CoAP and CoAPs: `GET /fw/<id>` answers the package as application/octet-stream (Content-Format
 * 42) with a stable ETag (the first 8 bytes of the id, so a device resuming after a reboot can tell the package did
 * not change, RFC 7252 §5.10.6), and the endpoint slices it by the request's Block2 option (RFC 7959 §2.4): a request
 * for block k answers block k even when no representation is cached, which is how a device resumes a download.
 */
import { Method, OptionNumber, ResponseCode, uintOption, type IncomingRequest, type OutgoingResponse } from '../coap/index.js';
import type { Logger } from '../log.js';
import { isPackageId, type FirmwareRepository } from './repository.js';

/** application/octet-stream (RFC 7252 §12.3). */
const OCTET_STREAM = 42;

/** The path prefix packages are served under, over CoAP(s) and HTTP(S). */
export const FIRMWARE_PATH = 'fw';

/** The ETag of a package: the first 8 bytes of its id (a SHA-256), the same over CoAP and HTTP. */
export function packageEtag(id: string): Buffer {
  return Buffer.from(id.slice(0, 16), 'hex');
}

/** What the /fw CoAP route serves from, and to whom. */
export interface FirmwareCoapRouteOptions {
  repository: Pick<FirmwareRepository, 'open' | 'cached'>;
  /**
   * Serve over plain CoAP too. Over CoAPs every peer was authenticated by the DTLS handshake. Plain CoAP peers are
   * anonymous: Warden serves them only when it accepts NoSec devices (it has a plain CoAP listener, and such a device
   * could register and be sent the URI anyway). Packages are signed, so what an anonymous fetch can gain is a copy of
   * the image, never a way to make a device install something else.
   */
  allowPlain: boolean;
  logger?: Logger;
}

/** A server route (ServerOptions.routes): answers `/fw/...` requests and returns undefined for any other path. */
export function firmwareCoapRoute(opts: FirmwareCoapRouteOptions): (req: IncomingRequest, secure: boolean) => OutgoingResponse | Promise<OutgoingResponse> | undefined {
  const { repository, allowPlain, logger } = opts;
  const contentFormat = uintOption(OptionNumber.ContentFormat, OCTET_STREAM);
  // One response per cached package buffer, shared by every block request (the endpoint slices it, never mutates it).
  const responses = new WeakMap<Buffer, OutgoingResponse>();
  const answer = (id: string, data: Buffer | undefined): OutgoingResponse => {
    if (!data) return { code: ResponseCode.NotFound };
    let r = responses.get(data);
    if (!r) {
      r = { code: ResponseCode.Content, options: [contentFormat, { number: OptionNumber.ETag, value: packageEtag(id) }], payload: data };
      responses.set(data, r);
    }
    return r;
  };
  return (req, secure) => {
    if (req.path[0] !== FIRMWARE_PATH) return undefined;
    if (!secure && !allowPlain) return { code: ResponseCode.Unauthorized };
    const id = req.path[1];
    if (req.path.length !== 2 || id === undefined || !isPackageId(id)) return { code: ResponseCode.NotFound };
    if (req.code !== Method.GET) return { code: ResponseCode.MethodNotAllowed };
    const hit = repository.cached(id);
    if (hit) return answer(id, hit);
    return repository.open(id).then(
      (data) => answer(id, data),
      (err: unknown) => {
        logger?.error({ err: (err as Error).message, id }, 'firmware package could not be read');
        return { code: ResponseCode.InternalServerError };
      },
    );
  };
}
