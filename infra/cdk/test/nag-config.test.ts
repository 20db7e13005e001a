import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { APP_DIR, buildPintaApp, checkAssets, DEFAULT_ASSETS_DIR, resolveAssetsDir } from '../lib/app';
import { loadConfig, validateConfig } from '../lib/config';
import { configFor, makeAssetsDir } from './helpers';

const NAG = Match.stringLikeRegexp('AwsSolutions-.*');
const findings = (stack: Stack) => {
  const a = Annotations.fromStack(stack);
  return [...a.findError('*', NAG), ...a.findWarning('*', NAG)].map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`);
};

describe('cdk-nag AwsSolutionsChecks', () => {
  const variants: [string, () => ReturnType<typeof configFor>][] = [
    ['dev', () => configFor('dev')],
    ['prod', () => configFor('prod')],
    [
      'https + cognito + public subscribers',
      () =>
        configFor('prod', {
          envName: 'full',
          publicTopicSubscriberAccounts: ['111122223333'],
          gateway: { certificateArn: 'arn:aws:acm:us-east-1:000000000000:certificate/test', domainName: 'dashboards.example.com', allowedCidr: '203.0.113.0/24' },
          database: { port: 3307 },
        }),
    ],
  ];

  test.each(variants)('%s: zero unsuppressed errors or warnings', (_name, cfg) => {
    const { stack } = buildPintaApp(cfg(), makeAssetsDir());
    expect(findings(stack)).toEqual([]);
  });

  test('the check is wired: an unsuppressed violation is reported', () => {
    const app = new App();
    const stack = new Stack(app, 'NagProbe');
    new s3.Bucket(stack, 'Unencrypted', { enforceSSL: false });
    Aspects.of(app).add(new AwsSolutionsChecks());
    expect(findings(stack).some((f) => f.includes('AwsSolutions-S10'))).toBe(true);
  });

  test('every suppression carries a specific reason', () => {
    const { stack } = buildPintaApp(configFor('dev'), makeAssetsDir());
    const reasons: { id: string; reason: string }[] = [];
    const visit = (c: IConstruct) => {
      const meta = (c.node.defaultChild as { cfnOptions?: { metadata?: Record<string, any> } } | undefined)?.cfnOptions?.metadata;
      const own = (c as { cfnOptions?: { metadata?: Record<string, any> } }).cfnOptions?.metadata;
      for (const m of [meta, own]) for (const r of m?.cdk_nag?.rules_to_suppress ?? []) reasons.push(r);
      c.node.children.forEach(visit);
    };
    visit(stack);
    expect(reasons.length).toBeGreaterThan(0);
    for (const r of reasons) {
      expect(r.id).toMatch(/^AwsSolutions-/);
      expect(r.reason.length).toBeGreaterThan(60);
    }
    // No blanket suppressions of whole rule families at stack level.
    expect(stack.templateOptions.metadata?.cdk_nag).toBeUndefined();
  });
});

describe('configuration', () => {
  test('dev and prod load, validate and select their own stack', () => {
    for (const env of ['dev', 'prod']) {
      const c = loadConfig(env);
      expect(c.envName).toBe(env);
      const { stack } = buildPintaApp(c, makeAssetsDir());
      expect(stack.stackName).toBe(`Pinta-${env}`);
    }
    expect(() => loadConfig('nope')).toThrow(/no configuration for env "nope"/);
  });

  test('memory sizes follow the peak RSS measured in bench/RESULTS.md (1M-row day, x 1.25 headroom)', () => {
    const measuredPeakMiB = { extractor: 388, transformer: 87, validator: 85, notifier: 15 };
    const expected = { extractor: 512, transformer: 128, validator: 128, notifier: 128 };
    for (const env of ['dev', 'prod']) {
      const raw = fs.readFileSync(path.join(APP_DIR, 'config', `${env}.json`), 'utf8');
      expect(raw).toContain('bench/RESULTS.md');
      const fns = loadConfig(env).lambda.functions;
      for (const [name, mb] of Object.entries(expected)) {
        const f = fns[name as keyof typeof fns];
        expect(f.memoryMb).toBe(mb);
        expect(f.memoryMb).toBeGreaterThanOrEqual(measuredPeakMiB[name as keyof typeof measuredPeakMiB] * 1.25);
      }
    }
  });

  test('invalid values are rejected', () => {
    const bad = configFor('dev', { account: '12345', retention: { rawToInfrequentAccessDays: 10 }, alertEmails: ['not-an-email'] });
    expect(() => validateConfig(bad)).toThrow(/account must be a 12-digit id[\s\S]*alertEmails[\s\S]*rawToInfrequentAccessDays/);
    expect(() => validateConfig(configFor('dev', { cognito: { enabled: true, domainPrefix: null } }))).toThrow(/domainPrefix/);
  });

  test('account comes from configuration, else CDK_DEFAULT_ACCOUNT; region from configuration', () => {
    const saved = process.env.CDK_DEFAULT_ACCOUNT;
    try {
      process.env.CDK_DEFAULT_ACCOUNT = '210987654321';
      expect(buildPintaApp(configFor('dev'), makeAssetsDir()).stack.account).toBe('210987654321');
      expect(buildPintaApp(configFor('dev', { account: '123456789012' }), makeAssetsDir()).stack.account).toBe('123456789012');
      delete process.env.CDK_DEFAULT_ACCOUNT;
      const agnostic = buildPintaApp(configFor('dev', { region: 'eu-west-1' }), makeAssetsDir()).stack;
      expect(agnostic.region).toBe('eu-west-1');
      expect(agnostic.account).toMatch(/^\$\{Token/);
    } finally {
      if (saved === undefined) delete process.env.CDK_DEFAULT_ACCOUNT;
      else process.env.CDK_DEFAULT_ACCOUNT = saved;
    }
  });

  test('no account id is hard-coded in the app or its configuration', () => {
    const files = ['bin', 'lib', 'config'].flatMap((d) => fs.readdirSync(path.join(APP_DIR, d)).map((f) => path.join(APP_DIR, d, f)));
    for (const f of files) expect([f, fs.readFileSync(f, 'utf8').match(/\b\d{12}\b/g)]).toEqual([f, null]);
  });

  test('assets dir: context, then PINTA_LAMBDA_ASSETS_DIR, then config, then ../../target/lambda', () => {
    expect(resolveAssetsDir('/ctx', '/env', 'cfg')).toBe('/ctx');
    expect(resolveAssetsDir(undefined, '/env', 'cfg')).toBe('/env');
    expect(resolveAssetsDir(undefined, '', 'cfg')).toBe(path.join(APP_DIR, 'cfg'));
    expect(resolveAssetsDir()).toBe(path.resolve(APP_DIR, DEFAULT_ASSETS_DIR));
    expect(path.relative(APP_DIR, resolveAssetsDir())).toBe(path.join('..', '..', 'target', 'lambda'));
  });

  test('a missing bootstrap fails synthesis with the build command', () => {
    const dir = makeAssetsDir();
    fs.rmSync(path.join(dir, 'pinta-validator'), { recursive: true });
    expect(() => checkAssets(dir)).toThrow(/pinta-validator[\\/]bootstrap[\s\S]*cargo lambda build --release --arm64/);
    expect(() => buildPintaApp(configFor('dev'), dir)).toThrow(/missing Lambda assets/);
    expect(() => checkAssets(fs.mkdtempSync(path.join(os.tmpdir(), 'empty-')))).toThrow(/pinta-extractor/);
  });
});
