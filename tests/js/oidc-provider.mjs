// A real OpenID Connect provider for the single sign-on tests (tests/tests/e2e/sso.rs and the
// browser scenario): `oidc-provider` (a certified implementation) on 127.0.0.1, with its own
// login page. Usage: node oidc-provider.mjs PORT REDIRECT_URI. Prints "READY <issuer>".
//
// Whoever signs in is the account named by the login field, an e-mail address; it is verified
// unless it starts with "unverified.". Clients, all with the secret below:
//   app            behaves
//   app-expired    its ID tokens expired five minutes ago
//   app-badsig     its ID tokens are signed with a key the provider does not publish
//   app-wrongiss   its ID tokens name another issuer
//   app-badnonce   its ID tokens carry another nonce than the one asked for
//   app-entra      as Microsoft Entra ID: no email_verified; xms_edov (domain owner verified)
//                  true unless the account starts with "unowned."
import { Provider } from "oidc-provider"
import { generateKeyPairSync } from "node:crypto"
import { SignJWT, decodeJwt, importJWK } from "jose"

const port = Number(process.argv[2])
const redirect = process.argv[3]
if (!port || !redirect) throw new Error("usage: node oidc-provider.mjs PORT REDIRECT_URI")
const issuer = `http://127.0.0.1:${port}`
export const SECRET = "oidc-test-secret-0123456789abcdef"

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-key-1", use: "sig", alg: "RS256" }

const provider = new Provider(issuer, {
  clients: ["app", "app-expired", "app-badsig", "app-wrongiss", "app-badnonce", "app-entra"].map(client_id => ({
    client_id,
    client_secret: SECRET,
    redirect_uris: [redirect],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  })),
  jwks: { keys: [jwk] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: !id.startsWith("unverified."), name: `Test ${id.split("@")[0]}` }
      },
    }
  },
  // A first-party client: grant what it asks for without a consent page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId)
    if (grantId) return ctx.oidc.provider.Grant.find(grantId)
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId })
    grant.addOIDCScope("openid email profile")
    await grant.save()
    return grant
  },
  // The e-mail claims in the ID token itself, as Entra ID puts them.
  conformIdTokenClaims: false,
  cookies: { keys: ["oidc-test-cookie-key"] },
})

// The misbehaving clients: the ID token re-signed after the fact.
const goodKey = await importJWK(jwk, "RS256")
const { privateKey: otherKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
provider.use(async (ctx, next) => {
  await next()
  const clientId = ctx.oidc?.client?.clientId
  if (ctx.path !== "/token" || !ctx.body?.id_token || !clientId || clientId === "app") return
  const claims = decodeJwt(ctx.body.id_token)
  const now = Math.floor(Date.now() / 1000)
  let key = goodKey
  if (clientId === "app-expired") Object.assign(claims, { iat: now - 600, exp: now - 300 })
  if (clientId === "app-wrongiss") claims.iss = "http://127.0.0.1:1/not-the-issuer"
  if (clientId === "app-badnonce") claims.nonce = "a-nonce-nobody-asked-for"
  if (clientId === "app-badsig") key = otherKey
  if (clientId === "app-entra") {
    delete claims.email_verified
    claims.xms_edov = !String(claims.email).startsWith("unowned.")
  }
  const id_token = await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: jwk.kid }).sign(key)
  ctx.body = { ...ctx.body, id_token }
})

provider.listen(port, "127.0.0.1", () => console.log(`READY ${issuer}`))
