// A real OpenID provider (the `oidc-provider` package) for schemehost's single sign-on tests.
//
// Configured by environment:
//   OIDC_PORT            port to listen on (0 = any free port; default 0)
//   OIDC_HOST            address to listen on (default 127.0.0.1)
//   OIDC_ISSUER          issuer URL (default http://<host>:<port>)
//   OIDC_CLIENT_ID       one static client (confidential, authorization code)...
//   OIDC_CLIENT_SECRET   ...its secret...
//   OIDC_REDIRECT_URIS   ...and its redirect URIs (comma- or space-separated)
//   OIDC_ACCOUNTS        JSON array of accounts: {"sub", "password", "email", "email_verified",
//                        "name", "roles": [...]} (login is the sub or the e-mail)
//
// More clients can be registered at run time with dynamic client registration
// (POST <issuer>/reg, RFC 7591, open: a test peer only).
//
// Sign-in is a small HTML form at /interaction/<uid> (fields `login` and
// `password`, posted to /interaction/<uid>/login); consent is granted
// automatically. On start the server prints one line `listening <issuer> <its own address>`.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const env = process.env;
const host = env.OIDC_HOST || '127.0.0.1';

const accounts = JSON.parse(env.OIDC_ACCOUNTS || '[]');
const CLAIMS = ['sub', 'email', 'email_verified', 'name', 'roles'];

function findByLogin(login) {
  const wanted = String(login || '').trim().toLowerCase();
  return accounts.find((a) => a.sub.toLowerCase() === wanted || (a.email || '').toLowerCase() === wanted);
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

function loginPage(uid, { error, login } = {}) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider: sign in</title></head>
<body>
  <h1>Test identity provider</h1>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
  <form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
    <label>Login <input name="login" value="${escapeHtml(login || '')}" required></label>
    <label>Password <input name="password" type="password" required></label>
    <button type="submit">Sign in</button>
  </form>
</body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 65536) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function html(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

async function interactionHandler(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    html(res, 400, '<p>This sign-in request is not the current one.</p>');
    return;
  }
  if (details.prompt.name !== 'login') {
    // consent: granted automatically by loadExistingGrant; nothing to ask
    await provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'GET' && !action) {
    html(res, 200, loginPage(uid, { login: details.params.login_hint }));
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = findByLogin(form.get('login'));
    if (!account || account.password !== form.get('password')) {
      html(res, 200, loginPage(uid, { error: 'Wrong login or password.', login: form.get('login') }));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: account.sub } },
      { mergeWithLastSubmission: false });
    return;
  }
  html(res, 405, '<p>Method not allowed.</p>');
}

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(Number(env.OIDC_PORT || 0), host, resolve));
  const { port } = server.address();
  const issuer = env.OIDC_ISSUER || `http://${host}:${port}`;

  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

  const clients = [];
  if (env.OIDC_CLIENT_ID) {
    clients.push({
      client_id: env.OIDC_CLIENT_ID,
      client_secret: env.OIDC_CLIENT_SECRET,
      redirect_uris: (env.OIDC_REDIRECT_URIS || '').split(/[\s,]+/).filter(Boolean),
      grant_types: ['authorization_code'],
      response_types: ['code'],
    });
  }

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      roles: ['roles'],
    },
    scopes: ['openid', 'email', 'profile', 'roles'],
    // the claims of the requested scopes go into the ID token (schemehost reads only the ID token)
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
    },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const account = accounts.find((a) => a.sub === sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return Object.fromEntries(CLAIMS.filter((c) => c in account).map((c) => [c, account[c]]));
        },
      };
    },
    async loadExistingGrant(ctx) {
      // consent is granted automatically: every requested scope and claim
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
      grant.addOIDCClaims(CLAIMS);
      await grant.save();
      return grant;
    },
  });

  const callback = provider.callback();
  server.on('request', (req, res) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(login))?\/?$/.exec(new URL(req.url, issuer).pathname);
    if (!match) {
      callback(req, res);
      return;
    }
    interactionHandler(provider, req, res, match[1], match[2]).catch((err) => {
      html(res, 400, `<p>Sign-in failed: ${escapeHtml(err.message)}</p>`);
    });
  });

  process.on('SIGTERM', () => server.close(() => process.exit(0)));
  process.on('SIGINT', () => server.close(() => process.exit(0)));
  process.stdout.write(`listening ${issuer} http://${host}:${port}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
