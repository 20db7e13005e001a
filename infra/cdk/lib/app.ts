import * as fs from 'fs';
import * as path from 'path';
import { App, Aspects, Tags } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PintaConfig, STAGE_SERVICES } from './config';
import { PintaStack } from './pinta-stack';

/** Directory of the CDK app (infra/cdk); relative paths in configuration are resolved against it. */
export const APP_DIR = path.resolve(__dirname, '..');

/** Default location of the `cargo lambda build --release --arm64` output, relative to APP_DIR. */
export const DEFAULT_ASSETS_DIR = '../../target/lambda';

/** Feature flags the app is written against (also used by the tests). */
export const FEATURE_FLAGS: Record<string, unknown> = {
  // Server access logs are delivered through a bucket policy instead of the legacy ACL.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

/** Lambda binary name of a stage service, as produced by cargo lambda (target/lambda/<binary>/bootstrap). */
export function binaryName(service: string): string {
  return `pinta-${service}`;
}

/**
 * Picks the Lambda assets directory: CDK context `assetsDir`, then env PINTA_LAMBDA_ASSETS_DIR,
 * then the configuration's `lambda.assetsDir`, then ../../target/lambda. Relative paths are
 * resolved against the CDK app directory.
 */
export function resolveAssetsDir(fromContext?: string, fromEnv?: string, fromConfig?: string): string {
  const chosen = [fromContext, fromEnv, fromConfig].find((v) => typeof v === 'string' && v.length > 0) ?? DEFAULT_ASSETS_DIR;
  return path.resolve(APP_DIR, chosen);
}

/** Fails early, with the fix, when a pre-built bootstrap is missing. */
export function checkAssets(assetsDir: string): void {
  const missing = STAGE_SERVICES.map((s) => path.join(assetsDir, binaryName(s), 'bootstrap')).filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    throw new Error(
      `missing Lambda assets:\n  ${missing.join('\n  ')}\n` +
        'Build them with `cargo lambda build --release --arm64` at the repository root, ' +
        'or point PINTA_LAMBDA_ASSETS_DIR (or -c assetsDir=...) at a directory holding pinta-<service>/bootstrap.',
    );
  }
}

export interface PintaAppResult {
  readonly app: App;
  readonly stack: PintaStack;
}

/** Adds the Pinta stack of one environment to `app`, with tags and the cdk-nag AwsSolutions checks. */
export function addPintaStack(app: App, config: PintaConfig, assetsDir: string): PintaStack {
  checkAssets(assetsDir);
  const account = config.account ?? process.env.CDK_DEFAULT_ACCOUNT;
  const region = config.region ?? process.env.CDK_DEFAULT_REGION;
  const stack = new PintaStack(app, `Pinta-${config.envName}`, {
    config,
    assetsDir,
    env: account || region ? { account, region } : undefined,
    description: `Pinta production-data pipeline (${config.envName})`,
  });
  Tags.of(stack).add('project', 'pinta');
  Tags.of(stack).add('environment', config.envName);
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return stack;
}

/** Builds a fresh app holding one environment's stack (used by the tests). */
export function buildPintaApp(config: PintaConfig, assetsDir: string, context: Record<string, unknown> = {}): PintaAppResult {
  const app = new App({ context: { ...FEATURE_FLAGS, ...context } });
  const stack = addPintaStack(app, config, assetsDir);
  return { app, stack };
}
