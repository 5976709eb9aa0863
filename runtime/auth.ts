import {
  createRemoteJWKSet,
  errors as joseErrors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
  SignJWT,
} from "jose";
import { z } from "zod";
import { booleanVar, optionalTextVar, parseEnv, textVar, unsetIfEmpty } from "./env.ts";

/**
 * Who may do what, the same at every door: the gateway checks a bearer token
 * before it runs an operation, and the command and query services check it
 * again from the gRPC metadata the gateway forwards, so their ports are no
 * side door. Tokens are JWTs verified with `jose`: HS256 with a shared secret
 * in development, or RS/ES/EdDSA keys from a JWKS URL with issuer and
 * audience checks in production.
 */

/** The roles a token may carry, each including the ones before it. */
export const roles = ["catalog:read", "catalog:write", "catalog:admin"] as const;

/** One of roles. */
export type Role = (typeof roles)[number];

/**
 * The secret `deno task dev` and `deno task token` sign and verify with when
 * AUTH_JWT_SECRET is unset. Public by design: production mode refuses it.
 */
export const DEVELOPMENT_JWT_SECRET = "catalog-development-secret-never-use-it-in-production";

/** The caller a verified token names. */
export interface Identity {
  /** The token's `sub`: the actor recorded with every command it sends. */
  subject: string;
  /** Its highest role, or undefined if it carries none of ours. */
  role: Role | undefined;
}

/** Why a caller is refused: UNAUTHENTICATED (no or bad token) or FORBIDDEN (too low a role). */
export class AuthError extends Error {
  constructor(readonly code: "UNAUTHENTICATED" | "FORBIDDEN", message: string) {
    super(message);
    this.name = "AuthError";
  }
}

/** How tokens are verified; see authVariables for the environment variables. */
export interface AuthConfig {
  /** HS256 secret (at least 32 bytes); ignored when jwksUrl is set. */
  jwtSecret: string;
  /** Where the production keys are published; when set, issuer and audience are required. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** The claim holding the roles: an array, or a space-separated string. Default "roles". */
  rolesClaim: string;
  /** Whether reads (queries and subscriptions) need no token. Default true. */
  publicReads: boolean;
}

/**
 * The variables of AuthConfig, shared by the gateway, the command service
 * and the query service:
 *
 * | Variable | Default | Meaning |
 * | --- | --- | --- |
 * | `AUTH_JWT_SECRET` | the development secret | HS256 secret of the tokens, at least 32 characters |
 * | `AUTH_JWKS_URL` | unset | JWKS of the identity provider; replaces the secret |
 * | `AUTH_ISSUER` | unset | Required `iss` (required with a JWKS URL) |
 * | `AUTH_AUDIENCE` | unset | Required `aud` (required with a JWKS URL) |
 * | `AUTH_ROLES_CLAIM` | `roles` | Claim holding the roles |
 * | `AUTH_PUBLIC_READS` | `true` | Queries and subscriptions need no token |
 */
export const authVariables = {
  AUTH_JWT_SECRET: z.preprocess(
    unsetIfEmpty,
    z.string().min(32, { error: "Must be at least 32 characters" }).default(
      DEVELOPMENT_JWT_SECRET,
    ),
  ),
  AUTH_JWKS_URL: z.preprocess(
    unsetIfEmpty,
    z.url({ protocol: /^https?$/, error: "Must be an http:// or https:// URL" }).optional(),
  ),
  AUTH_ISSUER: optionalTextVar(),
  AUTH_AUDIENCE: optionalTextVar(),
  AUTH_ROLES_CLAIM: textVar("roles"),
  AUTH_PUBLIC_READS: booleanVar(true),
};

/**
 * Reads AuthConfig from an environment record.
 *
 * @throws {ConfigError} naming every unusable variable, and a JWKS URL without issuer or audience.
 */
export function parseAuthConfig(
  service: string,
  env: Record<string, string | undefined>,
): AuthConfig {
  const data = parseEnv(service, authVariables, env);
  const config: AuthConfig = {
    jwtSecret: data.AUTH_JWT_SECRET,
    rolesClaim: data.AUTH_ROLES_CLAIM,
    publicReads: data.AUTH_PUBLIC_READS,
  };
  if (data.AUTH_JWKS_URL) config.jwksUrl = data.AUTH_JWKS_URL;
  if (data.AUTH_ISSUER) config.issuer = data.AUTH_ISSUER;
  if (data.AUTH_AUDIENCE) config.audience = data.AUTH_AUDIENCE;
  if (config.jwksUrl && (!config.issuer || !config.audience)) {
    parseEnv(service, {
      AUTH_ISSUER: z.string({ error: "Must be set with AUTH_JWKS_URL" }),
      AUTH_AUDIENCE: z.string({ error: "Must be set with AUTH_JWKS_URL" }),
    }, env);
  }
  return config;
}

/** The configuration with every variable unset: the development secret, public reads. */
export const developmentAuth: Readonly<AuthConfig> = Object.freeze({
  jwtSecret: DEVELOPMENT_JWT_SECRET,
  rolesClaim: "roles",
  publicReads: true,
});

function highestRole(claim: unknown): Role | undefined {
  const named = Array.isArray(claim)
    ? claim.filter((role): role is string => typeof role === "string")
    : typeof claim === "string"
    ? claim.split(/\s+/)
    : [];
  let highest = -1;
  for (const name of named) highest = Math.max(highest, roles.indexOf(name as Role));
  return highest < 0 ? undefined : roles[highest];
}

/** Whether an identity's role includes `needed` (anonymous callers have none). */
export function hasRole(identity: Identity | undefined, needed: Role): boolean {
  const role = identity?.role;
  return role !== undefined && roles.indexOf(role) >= roles.indexOf(needed);
}

/**
 * Refuses a caller whose role does not include `needed`: UNAUTHENTICATED if
 * it sent no token, FORBIDDEN if its token's role is too low.
 *
 * @throws {AuthError}
 */
export function requireRole(identity: Identity | undefined, needed: Role, action: string): void {
  if (hasRole(identity, needed)) return;
  if (!identity) {
    throw new AuthError(
      "UNAUTHENTICATED",
      `Cannot ${action} without a token: send "Authorization: Bearer <token>" with the ${needed} role`,
    );
  }
  throw new AuthError(
    "FORBIDDEN",
    `Cannot ${action}: it needs the ${needed} role, and the token of ${
      JSON.stringify(identity.subject)
    } has ${identity.role ?? "no catalog role"}`,
  );
}

/** The token of an `Authorization: Bearer <token>` value; undefined if there is none. */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1];
}

/** Verifies bearer tokens; see createVerifier(). */
export type Verifier = (token: string) => Promise<Identity>;

/**
 * A verifier of the tokens config describes. A JWKS is fetched when first
 * needed, and again when a token names a key it does not know (jose caches
 * it and limits how often it is refetched).
 */
export function createVerifier(config: AuthConfig): Verifier {
  const jwks: JWTVerifyGetKey | undefined = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl))
    : undefined;
  const secret = new TextEncoder().encode(config.jwtSecret);
  const options = {
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };
  return async (token) => {
    let payload: JWTPayload;
    try {
      payload = jwks
        ? (await jwtVerify(token, jwks, {
          ...options,
          algorithms: ["RS256", "PS256", "ES256", "EdDSA"],
        })).payload
        : (await jwtVerify(token, secret, { ...options, algorithms: ["HS256"] })).payload;
    } catch (error) {
      throw new AuthError("UNAUTHENTICATED", `Cannot accept the token: ${reasonOf(error)}`);
    }
    if (typeof payload.sub !== "string" || payload.sub.trim() === "") {
      throw new AuthError("UNAUTHENTICATED", "Cannot accept the token: it names no subject (sub)");
    }
    return { subject: payload.sub, role: highestRole(payload[config.rolesClaim]) };
  };
}

/** Why jose refused a token, in words that name no key and no internal address. */
function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "it has expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return `its ${error.claim} claim is not accepted`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return "its signature does not verify";
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "its algorithm is not accepted";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no known key signed it";
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return "it is not a well-formed JWT";
  }
  if (error instanceof joseErrors.JWKSTimeout) {
    return "the identity provider's keys are unavailable";
  }
  return "it cannot be verified";
}

/** Options of signDevelopmentToken(). */
export interface TokenOptions {
  subject: string;
  role?: Role;
  /** Default DEVELOPMENT_JWT_SECRET. */
  secret?: string;
  /** A jose time span such as "8h" or "30s". Default "8h". */
  expiresIn?: string;
  issuer?: string;
  audience?: string;
}

/** An HS256 token for development and tests, as `deno task token` prints it. */
export async function signDevelopmentToken(options: TokenOptions): Promise<string> {
  let jwt = new SignJWT(options.role ? { roles: [options.role] } : {})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "8h");
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return await jwt.sign(new TextEncoder().encode(options.secret ?? DEVELOPMENT_JWT_SECRET));
}
