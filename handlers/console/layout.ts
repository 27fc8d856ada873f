/** The console's page frame and sign-in page: server-rendered HTML with one style sheet and one script, both files. */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export const PAGES = [
  { path: '/', id: 'overview', title: 'Overview' },
  { path: '/console/agents', id: 'agents', title: 'Agents' },
  { path: '/console/executions', id: 'executions', title: 'Executions' },
  { path: '/console/conversations', id: 'conversations', title: 'Conversations' },
  { path: '/console/access', id: 'access', title: 'Access' },
  { path: '/console/playground', id: 'playground', title: 'Playground' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

function head(title: string) {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · Switchboard</title><link rel="stylesheet" href="/console.css"></head>`;
}

/** A signed-in page: navigation, sign-out, the page body and its script (/console/js/<script>.js, an ES module). */
export function consolePage(opts: { page: PageId; title: string; csrf: string; body: Html; script: string; data?: Record<string, string> }) {
  const data = Object.entries(opts.data ?? {}).map(([k, v]) => html` data-${k}="${v}"`);
  return html`${head(opts.title)}
<body data-page="${opts.page}"${data}>
<a class="skip" href="#main">Skip to content</a>
<header>
<span class="brand">Switchboard</span>
<nav aria-label="Console"><ul>${PAGES.map(
    (p) => html`<li><a href="${p.path}"${p.id === opts.page ? html` aria-current="page"` : ''}>${p.title}</a></li>`,
  )}</ul></nav>
<span id="ready" role="status" aria-live="polite"></span>
<form method="post" action="/console/sign-out" class="signout"><input type="hidden" name="csrf" value="${opts.csrf}"><button type="submit">Sign out</button></form>
</header>
<main id="main" tabindex="-1"><h1>${opts.title}</h1>
<p id="error" class="err" role="alert" hidden></p>
${opts.body}
</main>
<meta name="csrf-token" content="${opts.csrf}">
<script type="module" src="/console/js/${opts.script}.js"></script></body></html>`;
}

/** Sign-in: the token is posted once in the body and exchanged for the session cookie. */
export function signInPage(error?: string, next = '/') {
  return html`${head('Sign in')}
<body data-page="sign-in"><main id="main" class="signin">
<h1>Switchboard</h1>
<form method="post" action="/console/session">
<input type="hidden" name="next" value="${next}">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus aria-describedby="token-help${error ? ' token-error' : ''}">
<p id="token-help" class="help">ADMIN_TOKEN, or the token printed when Switchboard first started (<code>npx switchboard admin-token rotate</code> makes a new one).</p>
${error ? html`<p id="token-error" class="err" role="alert">${error}</p>` : ''}
<button type="submit">Sign in</button>
</form></main></body></html>`;
}
