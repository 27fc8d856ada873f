/** Security headers for every response: the console's pages, its script and style sheet, and the API they call. */
import { secureHeaders } from 'hono/secure-headers';

/**
 * A Content-Security-Policy that runs only scripts and styles served from here (no inline script or style: the
 * console's are files) and lets no site frame the page, `nosniff`, and no Referer. HSTS is left to the TLS proxy in
 * front, which knows whether the host is served over HTTPS only.
 */
export function pageHeaders() {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    xContentTypeOptions: 'nosniff',
    strictTransportSecurity: false,
  });
}
