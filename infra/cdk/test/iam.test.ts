import { Template } from 'aws-cdk-lib/assertions';
import { BUCKET_ACCESS } from '../lib/pinta-stack';
import { bucketPrefixes, configFor, logicalId, resourcesFor, roleActions, roleStatements, synth } from './helpers';

let t: Template;
const role = (prefix: string) => logicalId(t, 'AWS::IAM::Role', prefix);
const ref = (prefix: string, type: string) => ({ Ref: logicalId(t, type, prefix) });
const arn = (prefix: string, type: string) => ({ 'Fn::GetAtt': [logicalId(t, type, prefix), 'Arn'] });

beforeAll(() => {
  t = synth(configFor('dev')).template;
});

const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const KMS = ['kms:Decrypt', 'kms:GenerateDataKey'];
const SQS_CONSUME = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'];
const S3 = ['s3:GetObject', 's3:ListBucket', 's3:PutObject'];

describe('IAM: one least-privilege role per function, exact actions', () => {
  test('extractor role has exactly its actions', () => {
    expect(roleActions(t, role('ExtractorRole'))).toEqual(
      [
        'ec2:AssignPrivateIpAddresses',
        'ec2:CreateNetworkInterface',
        'ec2:DeleteNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:UnassignPrivateIpAddresses',
        ...KMS,
        ...LOGS,
        ...S3,
        'secretsmanager:GetSecretValue',
        'sns:Publish',
        'sqs:SendMessage',
      ].sort(),
    );
  });

  test('transformer role has exactly its actions', () => {
    expect(roleActions(t, role('TransformerRole'))).toEqual([...KMS, ...LOGS, ...S3, 'sns:Publish', ...SQS_CONSUME, 'sqs:SendMessage'].sort());
  });

  test('validator role has exactly its actions', () => {
    expect(roleActions(t, role('ValidatorRole'))).toEqual(
      ['cloudwatch:PutMetricData', ...KMS, ...LOGS, ...S3, 'sns:Publish', ...SQS_CONSUME, 'sqs:SendMessage'].sort(),
    );
  });

  test('notifier role has exactly its actions', () => {
    expect(roleActions(t, role('NotifierRole'))).toEqual([...KMS, ...LOGS, ...S3, 'sns:Publish', ...SQS_CONSUME, 'sqs:SendMessage'].sort());
  });

  test('gateway task role has exactly its actions', () => {
    expect(roleActions(t, role('GatewayTaskRole'))).toEqual(
      ['s3:GetObject', 's3:ListBucket', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'].sort(),
    );
    expect(resourcesFor(t, role('GatewayTaskRole'), 'sqs:ReceiveMessage')).toEqual([arn('GatewayQueue', 'AWS::SQS::Queue')]);
  });

  test('gateway execution role only pulls the image, writes its logs and reads the dashboard users secret', () => {
    const r = role('GatewayTaskDefinitionExecutionRole');
    expect(roleActions(t, r)).toEqual(
      [
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:GetAuthorizationToken',
        'ecr:GetDownloadUrlForLayer',
        ...LOGS,
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
      ].sort(),
    );
    expect(resourcesFor(t, r, 'secretsmanager:GetSecretValue')).toEqual([ref('DashboardUsersSecret', 'AWS::SecretsManager::Secret')]);
  });

  test('scheduler role only invokes the extractor and dead-letters to its DLQ', () => {
    const r = role('ExtractorScheduleRole');
    expect(roleActions(t, r)).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
    expect(resourcesFor(t, r, 'lambda:InvokeFunction')).toEqual([arn('ExtractorFunction', 'AWS::Lambda::Function')]);
    expect(resourcesFor(t, r, 'sqs:SendMessage')).toEqual([arn('ExtractorDlq', 'AWS::SQS::Queue')]);
  });

  test('there are no other roles than the tested ones', () => {
    const ids = Object.keys(t.findResources('AWS::IAM::Role')).map((id) => id.replace(/[0-9A-F]{8}$/, ''));
    expect(ids.sort()).toEqual(
      [
        'ExtractorRole',
        'TransformerRole',
        'ValidatorRole',
        'NotifierRole',
        'GatewayTaskRole',
        'GatewayTaskDefinitionExecutionRole',
        'ExtractorScheduleRole',
      ].sort(),
    );
  });

  test('no IAM policy anywhere uses a wildcard action', () => {
    const offending: string[] = [];
    for (const [id, r] of Object.entries(t.findResources('AWS::IAM::Role'))) {
      for (const s of roleStatements(t, id)) {
        for (const a of [s.Action].flat()) if (String(a).includes('*')) offending.push(`${id}: ${a}`);
      }
      void r;
    }
    expect(offending).toEqual([]);
  });

  test.each(['extractor', 'transformer', 'validator', 'notifier'] as const)('%s S3 access matches its prefixes exactly', (svc) => {
    const r = role(`${svc.charAt(0).toUpperCase()}${svc.slice(1)}Role`);
    expect(bucketPrefixes(t, r, 's3:GetObject')).toEqual(BUCKET_ACCESS[svc].read.map((p) => `/${p}*`).sort());
    expect(bucketPrefixes(t, r, 's3:PutObject')).toEqual(BUCKET_ACCESS[svc].write.map((p) => `/${p}*`).sort());
    expect(resourcesFor(t, r, 's3:ListBucket')).toEqual([arn('DataBucket', 'AWS::S3::Bucket')]);
  });

  test('prefix table matches the data flow (transformer cannot touch produccion/)', () => {
    const r = role('TransformerRole');
    expect(bucketPrefixes(t, r, 's3:GetObject')).toEqual(['/_control/inbox/transformer/*', '/crudos/*']);
    expect(bucketPrefixes(t, r, 's3:PutObject')).toEqual(['/_control/inbox/transformer/*', '/staging/*']);
    for (const action of ['s3:GetObject', 's3:PutObject']) {
      expect(bucketPrefixes(t, r, action)).not.toContain('/produccion/*');
    }
    expect(bucketPrefixes(t, role('ValidatorRole'), 's3:PutObject')).toEqual(
      ['/_control/days/*', '/_control/inbox/validator/*', '/cuarentena/*', '/produccion/*'].sort(),
    );
    expect(bucketPrefixes(t, role('ExtractorRole'), 's3:PutObject')).toEqual(['/_control/inbox/extractor/*', '/catalogos/*', '/crudos/*']);
    expect(bucketPrefixes(t, role('NotifierRole'), 's3:PutObject')).toEqual(['/_control/inbox/notifier/*', '/_control/notifier/*']);
    expect(bucketPrefixes(t, role('GatewayTaskRole'), 's3:GetObject')).toEqual(['/cuarentena/*', '/produccion/*']);
    expect(bucketPrefixes(t, role('GatewayTaskRole'), 's3:PutObject')).toEqual([]);
  });

  test('each function publishes only to its topics', () => {
    const pipeline = ref('PipelineTopic', 'AWS::SNS::Topic');
    const pub = ref('PublicTopic', 'AWS::SNS::Topic');
    const alerts = ref('AlertsTopic', 'AWS::SNS::Topic');
    expect(resourcesFor(t, role('ExtractorRole'), 'sns:Publish')).toEqual([pipeline]);
    expect(resourcesFor(t, role('TransformerRole'), 'sns:Publish')).toEqual([pipeline]);
    expect(resourcesFor(t, role('ValidatorRole'), 'sns:Publish')).toEqual([pipeline, pub]);
    expect(resourcesFor(t, role('NotifierRole'), 'sns:Publish')).toEqual([alerts]);
    for (const svc of ['Extractor', 'Transformer', 'Validator', 'Notifier']) {
      expect(resourcesFor(t, role(`${svc}Role`), 'kms:GenerateDataKey')).toEqual([arn('TopicsKey', 'AWS::KMS::Key')]);
    }
  });

  test('each worker consumes only its own queue and dead-letters only to its own DLQ', () => {
    for (const svc of ['Transformer', 'Validator', 'Notifier']) {
      expect(resourcesFor(t, role(`${svc}Role`), 'sqs:ReceiveMessage')).toEqual([arn(`${svc}Queue`, 'AWS::SQS::Queue')]);
      expect(resourcesFor(t, role(`${svc}Role`), 'sqs:SendMessage')).toEqual([arn(`${svc}Dlq`, 'AWS::SQS::Queue')]);
    }
    expect(resourcesFor(t, role('ExtractorRole'), 'sqs:SendMessage')).toEqual([arn('ExtractorDlq', 'AWS::SQS::Queue')]);
  });

  test('only the extractor reads the database secret; PutMetricData is limited to the Pinta namespace', () => {
    // The secret ARN is taken from the secret's attachment to the instance (the same secret).
    const secret = ref('SourceDatabaseSecretAttachment', 'AWS::SecretsManager::SecretTargetAttachment');
    expect(resourcesFor(t, role('ExtractorRole'), 'secretsmanager:GetSecretValue')).toEqual([secret]);
    for (const svc of ['Transformer', 'Validator', 'Notifier']) {
      expect(roleActions(t, role(`${svc}Role`))).not.toContain('secretsmanager:GetSecretValue');
    }
    const metric = roleStatements(t, role('ValidatorRole')).find((s) => s.Action === 'cloudwatch:PutMetricData');
    expect(metric?.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'Pinta' } });
  });

  test('each function writes only to its own log group', () => {
    for (const svc of ['Extractor', 'Transformer', 'Validator', 'Notifier']) {
      expect(resourcesFor(t, role(`${svc}Role`), 'logs:PutLogEvents')).toEqual([arn(`${svc}LogGroup`, 'AWS::Logs::LogGroup')]);
    }
  });
});
