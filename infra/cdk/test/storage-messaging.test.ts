import { Match, Template } from 'aws-cdk-lib/assertions';
import { configFor, logicalId, synth, Synth } from './helpers';

let dev: Synth;
let custom: Synth;
let t: Template;
const id = (type: string, prefix: string) => logicalId(t, type, prefix);

beforeAll(() => {
  dev = synth(configFor('dev'));
  t = dev.template;
  // Different numbers from dev.json, to prove they come from configuration.
  custom = synth(
    configFor('dev', {
      envName: 'custom',
      alertEmails: ['a@example.com', 'b@example.com', 'c@example.com'],
      publicTopicSubscriberAccounts: ['111122223333', '444455556666'],
      retention: { rawToInfrequentAccessDays: 45, rawExpirationDays: 200, stagingExpirationDays: 2, quarantineExpirationDays: 400 },
      queues: { maxReceiveCount: 7 },
      lambda: { functions: { transformer: { memoryMb: 256, timeoutSeconds: 200, batchSize: 1 } } },
    }),
  );
});

describe('storage: data bucket', () => {
  test('is encrypted, private, versioned, and logs to the separate log bucket', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { DestinationBucketName: { Ref: id('AWS::S3::Bucket', 'LogBucket') }, LogFilePrefix: 's3-access/data-bucket/' },
    });
  });

  test('only accepts TLS (enforceSSL) on both buckets', () => {
    for (const bucket of ['DataBucket', 'LogBucket']) {
      t.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id('AWS::S3::Bucket', bucket) },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  test('log bucket is encrypted, private and expires logs', () => {
    const log = t.toJSON().Resources[id('AWS::S3::Bucket', 'LogBucket')].Properties;
    expect(log.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    expect(log.PublicAccessBlockConfiguration.BlockPublicAcls).toBe(true);
    expect(log.LifecycleConfiguration.Rules[0].ExpirationInDays).toBe(dev.config.retention.accessLogsExpirationDays);
  });

  const rules = (s: Synth) => {
    const b = s.template.toJSON().Resources[logicalId(s.template, 'AWS::S3::Bucket', 'DataBucket')].Properties;
    return b.LifecycleConfiguration.Rules as Record<string, unknown>[];
  };

  test('lifecycle: crudos/ to IA then expiry, staging/ expires, cuarentena/ retention — from configuration', () => {
    for (const s of [dev, custom]) {
      const r = s.config.retention;
      const byPrefix = Object.fromEntries(rules(s).filter((x) => x.Prefix).map((x) => [x.Prefix, x]));
      expect(byPrefix['crudos/']).toMatchObject({
        Status: 'Enabled',
        Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: r.rawToInfrequentAccessDays }],
        ExpirationInDays: r.rawExpirationDays,
      });
      expect(byPrefix['staging/']).toMatchObject({ Status: 'Enabled', ExpirationInDays: r.stagingExpirationDays });
      expect(byPrefix['cuarentena/']).toMatchObject({ Status: 'Enabled', ExpirationInDays: r.quarantineExpirationDays });
    }
    expect(rules(custom).find((x) => x.Prefix === 'crudos/')).toMatchObject({ ExpirationInDays: 200 });
  });

  test('curated produccion/ is kept: no rule expires it', () => {
    for (const r of rules(dev)) {
      if (r.ExpirationInDays !== undefined) {
        expect(r.Prefix).toBeDefined();
        expect(String(r.Prefix).startsWith('produccion')).toBe(false);
      }
    }
    const unscoped = rules(dev).filter((r) => !r.Prefix);
    expect(unscoped).toHaveLength(1);
    expect(unscoped[0].ExpirationInDays).toBeUndefined();
    expect(unscoped[0].NoncurrentVersionExpiration).toEqual({ NoncurrentDays: dev.config.retention.noncurrentVersionExpirationDays });
  });
});

describe('messaging: topics', () => {
  test('three topics, all encrypted with the rotating topics key', () => {
    const topics = t.findResources('AWS::SNS::Topic');
    expect(Object.keys(topics)).toHaveLength(3);
    const key = id('AWS::KMS::Key', 'TopicsKey');
    for (const topic of Object.values(topics)) {
      expect(topic.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key, 'Arn'] });
    }
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('topics refuse non-TLS publishers', () => {
    for (const topic of ['PipelineTopic', 'AlertsTopic', 'PublicTopic']) {
      t.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: id('AWS::SNS::Topic', topic) }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
  });

  test('alerts topic has one e-mail subscription per configured address', () => {
    for (const s of [dev, custom]) {
      const emails = Object.values(s.template.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'email' } })).map(
        (r) => r.Properties.Endpoint,
      );
      expect(emails.sort()).toEqual([...s.config.alertEmails].sort());
    }
  });

  test('public topic policy names exactly the configured subscriber accounts', () => {
    const ct = custom.template;
    const pub = logicalId(ct, 'AWS::SNS::Topic', 'PublicTopic');
    const policy = Object.values(ct.findResources('AWS::SNS::TopicPolicy')).find((p) => p.Properties.Topics[0].Ref === pub)!;
    const allow = policy.Properties.PolicyDocument.Statement.filter((s: { Effect: string }) => s.Effect === 'Allow');
    expect(allow).toHaveLength(1);
    expect(allow[0].Action).toBe('sns:Subscribe');
    const principals = JSON.stringify(allow[0].Principal.AWS);
    expect(principals).toContain('111122223333');
    expect(principals).toContain('444455556666');
    // dev.json lists no subscriber accounts: nobody outside the account may subscribe.
    const devPolicy = Object.values(t.findResources('AWS::SNS::TopicPolicy')).find(
      (p) => p.Properties.Topics[0].Ref === id('AWS::SNS::Topic', 'PublicTopic'),
    )!;
    expect(devPolicy.Properties.PolicyDocument.Statement.filter((s: { Effect: string }) => s.Effect === 'Allow')).toEqual([]);
  });
});

describe('messaging: queues', () => {
  const expected: Record<string, string[]> = {
    Transformer: ['production.extracted.v1'],
    Validator: ['production.transformed.v1'],
    Notifier: ['pipeline.failed.v1', 'rows.quarantined.v1'],
    Gateway: ['production.published.v1'],
  };

  test.each(Object.entries(expected))('%s queue subscribes to the pipeline topic filtered on type', (name, types) => {
    t.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      TopicArn: { Ref: id('AWS::SNS::Topic', 'PipelineTopic') },
      Endpoint: { 'Fn::GetAtt': [id('AWS::SQS::Queue', `${name}Queue`), 'Arn'] },
      FilterPolicy: { type: types },
      RawMessageDelivery: true,
    });
  });

  test('only the four consumer queues subscribe to the pipeline topic', () => {
    const sqsSubs = t.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'sqs' } });
    expect(Object.keys(sqsSubs)).toHaveLength(4);
  });

  test.each(Object.keys(expected))('%s queue: SSE, DLQ with maxReceiveCount from config, TLS-only', (name) => {
    const q = id('AWS::SQS::Queue', `${name}Queue`);
    const dlq = id('AWS::SQS::Queue', `${name}Dlq`);
    t.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: `pinta-dev-${name.toLowerCase()}`,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: dev.config.queues.maxReceiveCount },
    });
    t.hasResourceProperties('AWS::SQS::Queue', { QueueName: `pinta-dev-${name.toLowerCase()}-dlq`, SqsManagedSseEnabled: true });
    for (const queue of [q, dlq]) {
      t.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queue }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
  });

  test('maxReceiveCount follows configuration', () => {
    const queues = Object.values(custom.template.findResources('AWS::SQS::Queue')).filter((q) => q.Properties.RedrivePolicy);
    expect(queues).toHaveLength(4);
    for (const q of queues) expect(q.Properties.RedrivePolicy.maxReceiveCount).toBe(7);
  });

  test('every queue is encrypted', () => {
    for (const q of Object.values(t.findResources('AWS::SQS::Queue'))) expect(q.Properties.SqsManagedSseEnabled).toBe(true);
  });

  test('visibility timeout is 6x the consuming function timeout', () => {
    for (const s of [dev, custom]) {
      for (const svc of ['transformer', 'validator', 'notifier'] as const) {
        const q = s.template.toJSON().Resources[logicalId(s.template, 'AWS::SQS::Queue', `${svc.charAt(0).toUpperCase()}${svc.slice(1)}Queue`)];
        const fn = s.template.toJSON().Resources[logicalId(s.template, 'AWS::Lambda::Function', `${svc.charAt(0).toUpperCase()}${svc.slice(1)}Function`)];
        expect(fn.Properties.Timeout).toBe(s.config.lambda.functions[svc].timeoutSeconds);
        expect(q.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
      }
    }
    expect(
      custom.template.toJSON().Resources[logicalId(custom.template, 'AWS::SQS::Queue', 'TransformerQueue')].Properties.VisibilityTimeout,
    ).toBe(1200);
  });
});
