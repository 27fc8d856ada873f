/** GET /: a small dashboard and web chat playground. It calls the same /api the CLI and tests use. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { secureHeaders } from 'hono/secure-headers';

/** The page's one style sheet, inline; the Content-Security-Policy allows exactly this text by its hash. */
const DASHBOARD_STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2329}
header{background:#1d2329;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0}header input{flex:1;max-width:420px;padding:4px 8px}
main{display:grid;grid-template-columns:1fr 1fr;gap:16px;padding:16px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px;min-width:0}
#log{height:360px;overflow:auto;border:1px solid #eee;padding:8px;white-space:pre-wrap}
.user{color:#0b5cad}.bot{margin:4px 0 10px}.bot button{margin-right:4px}
table{width:100%;border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #eee;padding:3px;text-align:left}
form{display:flex;gap:8px;margin-top:8px}form input{flex:1;padding:6px}.err{color:#b00020}
`;

/** The `style-src` source that admits the inline style sheet and nothing else inline. */
export const DASHBOARD_STYLE_HASH = `'sha256-${createHash('sha256').update(DASHBOARD_STYLE).digest('base64')}'`;

/** The page's script (GET /dashboard.js), read once. */
export const DASHBOARD_SCRIPT = readFileSync(new URL('./static/dashboard.js', import.meta.url), 'utf8');

/**
 * Security headers for every response (the page, its script, and the API it calls): a Content-Security-Policy
 * that runs only scripts served from here (no inline script) and lets no site frame the page, `nosniff`, and no
 * Referer. HSTS is left to the TLS proxy in front, which knows whether the host is served over HTTPS only.
 */
export function pageHeaders() {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", DASHBOARD_STYLE_HASH],
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

export function dashboard(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Switchboard</title>
<style>${DASHBOARD_STYLE}</style></head><body>
<header><h1>Switchboard</h1><label>Admin token <input id="token" type="password" placeholder="ADMIN_TOKEN (printed at start)"></label><span id="ready"></span></header>
<main>
<section><h2>Chat</h2><div id="log"></div>
<form id="chat"><input id="text" autocomplete="off" placeholder="help, status, summarize, a question, or paste a diff"><button>Send</button></form></section>
<section><h2>Recent executions</h2><table><thead><tr><th>agent</th><th>status</th><th>channel</th><th>provider</th><th>ms</th><th>at</th></tr></thead><tbody id="execs"></tbody></table>
<h2>Agents</h2><div id="agents"></div><h2>Feedback</h2><div id="feedback"></div></section>
</main>
<script src="/dashboard.js"></script></body></html>`;
}
