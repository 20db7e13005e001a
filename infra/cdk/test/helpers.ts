import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildPintaApp } from '../lib/app';
import { loadConfig, PintaConfig, STAGE_SERVICES } from '../lib/config';
import { PintaStack } from '../lib/pinta-stack';

/** A temporary assets dir with small placeholder `pinta-<service>/bootstrap` files (no Rust build). */
export function makeAssetsDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinta-cdk-assets-'));
  for (const s of STAGE_SERVICES) {
    fs.mkdirSync(path.join(dir, `pinta-${s}`));
    fs.writeFileSync(path.join(dir, `pinta-${s}`, 'bootstrap'), `#!/bin/sh\n# placeholder for pinta-${s}\nexit 1\n`, { mode: 0o755 });
  }
  return dir;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

function merge<T>(base: T, over: DeepPartial<T> | undefined): T {
  if (over === undefined) return base;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' ? merge(b, v as DeepPartial<typeof b>) : v;
  }
  return out as T;
}

/** A configuration file from config/, with overrides. */
export function configFor(env: string, overrides?: DeepPartial<PintaConfig>): PintaConfig {
  return merge(loadConfig(env), overrides);
}

export interface Synth {
  readonly stack: PintaStack;
  readonly template: Template;
  readonly config: PintaConfig;
}

/** Synthesizes one environment (call once per file, in beforeAll). */
export function synth(config: PintaConfig): Synth {
  const { stack } = buildPintaApp(config, makeAssetsDir());
  return { stack, template: Template.fromStack(stack), config };
}

/** Logical id of the single resource of `type` whose id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${JSON.stringify(ids)}`);
  return ids[0];
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
  Sid?: string;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every statement granted to a role: inline policies plus attached AWS::IAM::Policy resources. */
export function roleStatements(template: Template, roleId: string): Statement[] {
  const role = template.toJSON().Resources[roleId];
  const out: Statement[] = [];
  for (const p of asArray(role.Properties.Policies) as { PolicyDocument: { Statement: Statement[] } }[]) {
    out.push(...p.PolicyDocument.Statement);
  }
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const roles = asArray(policy.Properties.Roles) as { Ref?: string }[];
    if (roles.some((r) => r.Ref === roleId)) out.push(...policy.Properties.PolicyDocument.Statement);
  }
  if (asArray(role.Properties.ManagedPolicyArns).length > 0) throw new Error(`${roleId} has managed policies`);
  return out;
}

/** Sorted unique allowed actions of a role. */
export function roleActions(template: Template, roleId: string): string[] {
  const actions = roleStatements(template, roleId)
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => asArray(s.Action));
  return [...new Set(actions)].sort();
}

/** Resources (as written in the template) a role is allowed `action` on. */
export function resourcesFor(template: Template, roleId: string, action: string): unknown[] {
  return roleStatements(template, roleId)
    .filter((s) => s.Effect === 'Allow' && asArray(s.Action).includes(action))
    .flatMap((s) => asArray(s.Resource));
}

/** `"/crudos/*"` for `{Fn::Join: ["", [{Fn::GetAtt: [<bucketId>, "Arn"]}, "/crudos/*"]]}`, else undefined. */
export function bucketSuffix(resource: unknown, bucketId: string): string | undefined {
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) return undefined;
  const [first, ...rest] = join[1];
  const getAtt = (first as { 'Fn::GetAtt'?: string[] })['Fn::GetAtt'];
  if (!getAtt || getAtt[0] !== bucketId || getAtt[1] !== 'Arn') return undefined;
  return rest.join('');
}

/** Data-bucket key patterns a role may use `action` on, e.g. ['/crudos/*']. */
export function bucketPrefixes(template: Template, roleId: string, action: string): string[] {
  const bucketId = logicalId(template, 'AWS::S3::Bucket', 'DataBucket');
  return resourcesFor(template, roleId, action)
    .map((r) => bucketSuffix(r, bucketId))
    .filter((x): x is string => x !== undefined)
    .sort();
}
