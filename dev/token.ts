/**
 * `deno task token -- --sub alice --role catalog:write`: prints a development
 * token signed with AUTH_JWT_SECRET (or the development secret when it is
 * unset), for GraphiQL's headers or curl. Production tokens come from the
 * identity provider behind AUTH_JWKS_URL, never from here.
 */
import { parseArgs } from "node:util";
import {
  DEVELOPMENT_JWT_SECRET,
  type Role,
  roles,
  signDevelopmentToken,
} from "@catalog/runtime/auth";

const usage = `Usage: deno task token -- --sub <subject> [--role ${
  roles.join("|")
}] [--expires 8h]`;

/** The token the arguments ask for; throws with the usage on bad arguments. */
export async function tokenFromArgs(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<string> {
  let values;
  try {
    ({ values } = parseArgs({
      // `deno task token -- …` passes the "--" on.
      args: args[0] === "--" ? args.slice(1) : args,
      options: {
        sub: { type: "string" },
        role: { type: "string", default: "catalog:write" },
        expires: { type: "string", default: "8h" },
      },
      strict: true,
    }));
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : error}\n${usage}`);
  }
  const subject = values.sub?.trim();
  if (!subject) throw new Error(`Cannot sign a token without --sub\n${usage}`);
  if (!roles.includes(values.role as Role)) {
    throw new Error(`Cannot sign a token for role ${JSON.stringify(values.role)}\n${usage}`);
  }
  if (!/^\d+[smhd]$/.test(values.expires)) {
    throw new Error(
      `Cannot read --expires ${JSON.stringify(values.expires)}: use 30s, 15m, 8h or 2d`,
    );
  }
  return await signDevelopmentToken({
    subject,
    role: values.role as Role,
    expiresIn: values.expires,
    secret: env.AUTH_JWT_SECRET?.trim() || DEVELOPMENT_JWT_SECRET,
    issuer: env.AUTH_ISSUER?.trim() || undefined,
    audience: env.AUTH_AUDIENCE?.trim() || undefined,
  });
}

if (import.meta.main) {
  try {
    console.log(await tokenFromArgs(Deno.args, Deno.env.toObject()));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
}
