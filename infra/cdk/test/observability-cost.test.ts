import { Match, Template } from 'aws-cdk-lib/assertions';
import { configFor, logicalId, synth, Synth } from './helpers';

let dev: Synth;
let t: Template;
const id = (type: string, prefix: string) => logicalId(t, type, prefix);
type Alarm = { Properties: Record<string, any> };
let alarms: Record<string, Alarm>;

beforeAll(() => {
  dev = synth(configFor('dev', { retention: { logRetentionDays: 60 }, budget: { monthlyLimitUsd: 321 } }));
  t = dev.template;
  alarms = t.findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>;
});

const alarmsOn = (metric: string, dimension: string, ref: unknown) =>
  Object.values(alarms).filter((a) => a.Properties.MetricName === metric && a.Properties.Dimensions?.some((d: any) => d.Name === dimension && JSON.stringify(d.Value) === JSON.stringify(ref)));

describe('observability: alarms', () => {
  test.each(['Extractor', 'Transformer', 'Validator', 'Notifier', 'Gateway'])('%s DLQ depth > 0 alarms', (name) => {
    const queueName = { 'Fn::GetAtt': [id('AWS::SQS::Queue', `${name}Dlq`), 'QueueName'] };
    const found = alarmsOn('ApproximateNumberOfMessagesVisible', 'QueueName', queueName);
    expect(found).toHaveLength(1);
    expect(found[0].Properties).toMatchObject({ Namespace: 'AWS/SQS', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1 });
  });

  test.each(['Transformer', 'Validator', 'Notifier', 'Gateway'])('%s queue age of oldest message alarms', (name) => {
    const queueName = { 'Fn::GetAtt': [id('AWS::SQS::Queue', `${name}Queue`), 'QueueName'] };
    const found = alarmsOn('ApproximateAgeOfOldestMessage', 'QueueName', queueName);
    expect(found).toHaveLength(1);
    expect(found[0].Properties).toMatchObject({ Threshold: dev.config.alarms.maxMessageAgeSeconds, ComparisonOperator: 'GreaterThanThreshold' });
  });

  test.each(['Extractor', 'Transformer', 'Validator', 'Notifier'])('%s errors and throttles alarm', (name) => {
    const fn = { Ref: id('AWS::Lambda::Function', `${name}Function`) };
    for (const metric of ['Errors', 'Throttles']) {
      const found = alarmsOn(metric, 'FunctionName', fn);
      expect(found).toHaveLength(1);
      expect(found[0].Properties).toMatchObject({ Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    }
  });

  test('"no production published by 01:00": 24 hourly periods without Pinta/ProductionPublished, missing data breaching', () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Pinta',
      MetricName: 'ProductionPublished',
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 24,
      DatapointsToAlarm: 24,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  test('every alarm notifies the alerts topic', () => {
    const topic = { Ref: id('AWS::SNS::Topic', 'AlertsTopic') };
    expect(Object.keys(alarms).length).toBeGreaterThanOrEqual(5 + 4 + 8 + 1);
    for (const a of Object.values(alarms)) {
      expect(a.Properties.AlarmActions).toEqual([topic]);
      expect(a.Properties.ActionsEnabled).toBe(true);
    }
  });

  test('CloudWatch and Budgets may publish to the encrypted alerts topic', () => {
    for (const service of ['cloudwatch.amazonaws.com', 'budgets.amazonaws.com']) {
      t.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: id('AWS::SNS::Topic', 'AlertsTopic') }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Allow', Action: 'sns:Publish', Principal: { Service: service } })]) },
      });
    }
    const key = t.toJSON().Resources[id('AWS::KMS::Key', 'TopicsKey')].Properties.KeyPolicy.Statement;
    const svc = key.find((s: any) => s.Sid === 'AllowAlarmAndBudgetPublishers');
    expect(svc.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(svc.Principal.Service.sort()).toEqual(['budgets.amazonaws.com', 'cloudwatch.amazonaws.com']);
  });
});

describe('observability: logs and dashboard', () => {
  test('every log group has the configured retention', () => {
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBe(5);
    for (const g of groups) expect(g.Properties.RetentionInDays).toBe(60);
  });

  test('every Lambda logs to one of those log groups; the gateway container too', () => {
    const groupIds = Object.keys(t.findResources('AWS::Logs::LogGroup'));
    for (const fn of Object.values(t.findResources('AWS::Lambda::Function'))) {
      expect(groupIds).toContain(fn.Properties.LoggingConfig.LogGroup.Ref);
    }
    const td = t.toJSON().Resources[id('AWS::ECS::TaskDefinition', 'GatewayTaskDefinition')].Properties;
    expect(td.ContainerDefinitions[0].LogConfiguration.Options['awslogs-group']).toEqual({ Ref: id('AWS::Logs::LogGroup', 'GatewayLogGroup') });
  });

  test('a CloudWatch dashboard shows the functions, queues and the published metric', () => {
    const d = Object.values(t.findResources('AWS::CloudWatch::Dashboard'));
    expect(d).toHaveLength(1);
    const body = JSON.stringify(d[0].Properties.DashboardBody);
    for (const needle of ['AWS/Lambda', 'Invocations', 'ApproximateNumberOfMessagesVisible', 'ProductionPublished', 'CPUUtilization']) {
      expect(body).toContain(needle);
    }
  });
});

describe('cost: budget', () => {
  test('monthly cost budget from configuration notifies the alerts topic (actual and forecast)', () => {
    const topic = { Ref: id('AWS::SNS::Topic', 'AlertsTopic') };
    t.hasResourceProperties('AWS::Budgets::Budget', {
      Budget: { BudgetType: 'COST', TimeUnit: 'MONTHLY', BudgetLimit: { Amount: 321, Unit: 'USD' } },
      NotificationsWithSubscribers: [
        {
          Notification: Match.objectLike({ NotificationType: 'ACTUAL', Threshold: dev.config.budget.actualThresholdPercent }),
          Subscribers: [{ SubscriptionType: 'SNS', Address: topic }],
        },
        {
          Notification: Match.objectLike({ NotificationType: 'FORECASTED', Threshold: dev.config.budget.forecastThresholdPercent }),
          Subscribers: [{ SubscriptionType: 'SNS', Address: topic }],
        },
      ],
    });
  });
});
