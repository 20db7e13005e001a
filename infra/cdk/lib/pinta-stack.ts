import * as path from 'path';
import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as budgets from 'aws-cdk-lib/aws-budgets';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as elbv2Actions from 'aws-cdk-lib/aws-elasticloadbalancingv2-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Analytics } from './analytics';
import { binaryName } from './app';
import { PintaConfig, STAGE_SERVICES, StageService } from './config';
import { applyNagSuppressions } from './nag';

/** CloudEvents types carried on the pipeline topic (SNS message attribute `type`). */
export const EventTypes = {
  extracted: 'production.extracted.v1',
  transformed: 'production.transformed.v1',
  published: 'production.published.v1',
  quarantined: 'rows.quarantined.v1',
  failed: 'pipeline.failed.v1',
} as const;

/** Which event types each consumer's queue receives (the SNS filter policy on `type`). */
export const SUBSCRIPTIONS: Record<'transformer' | 'validator' | 'notifier' | 'gateway', string[]> = {
  transformer: [EventTypes.extracted],
  validator: [EventTypes.transformed],
  notifier: [EventTypes.failed, EventTypes.quarantined],
  gateway: [EventTypes.published],
};

/** Bucket prefixes each service reads and writes (IAM is generated from this table). */
export const BUCKET_ACCESS: Record<StageService | 'gateway', { read: string[]; write: string[] }> = {
  extractor: {
    read: ['_control/inbox/extractor/'],
    write: ['crudos/', 'catalogos/', '_control/inbox/extractor/'],
  },
  transformer: {
    read: ['crudos/', '_control/inbox/transformer/'],
    write: ['staging/', '_control/inbox/transformer/'],
  },
  validator: {
    read: ['staging/', 'catalogos/', '_control/inbox/validator/', '_control/days/'],
    write: ['produccion/', 'cuarentena/', '_control/inbox/validator/', '_control/days/'],
  },
  notifier: {
    read: ['_control/notifier/', '_control/inbox/notifier/'],
    write: ['_control/notifier/', '_control/inbox/notifier/'],
  },
  gateway: {
    read: ['produccion/', 'cuarentena/'],
    write: [],
  },
};

/** Namespace / name of the metric the validator emits once per published day. */
export const PRODUCTION_PUBLISHED_METRIC = { namespace: 'Pinta', metricName: 'ProductionPublished' } as const;

export interface PintaStackProps extends StackProps {
  readonly config: PintaConfig;
  /** Directory holding `pinta-<service>/bootstrap` (cargo lambda build --release --arm64 output). */
  readonly assetsDir: string;
}

interface WorkerQueue {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export class PintaStack extends Stack {
  public readonly config: PintaConfig;
  public readonly logBucket: s3.Bucket;
  public readonly dataBucket: s3.Bucket;
  public readonly topicsKey: kms.Key;
  public readonly pipelineTopic: sns.Topic;
  public readonly alertsTopic: sns.Topic;
  public readonly publicTopic: sns.Topic;
  public readonly queues: Record<'transformer' | 'validator' | 'notifier' | 'gateway', WorkerQueue>;
  public readonly extractorDlq: sqs.Queue;
  public readonly functions: Record<StageService, lambda.Function>;
  public readonly roles: Record<StageService, iam.Role>;
  public readonly vpc: ec2.Vpc;
  public readonly database: rds.DatabaseInstance;
  public readonly gatewayService: ecs.FargateService;
  public readonly gatewayTaskRole: iam.Role;
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  public readonly userPool?: cognito.UserPool;
  /** PINTA_USERS of the dashboards, when Cognito is not used. */
  public dashboardUsersSecret?: secretsmanager.Secret;
  public readonly alarms: cloudwatch.Alarm[] = [];
  /** Glue tables of the lake, the analysts' Athena workgroup and the "analyst" policy (lib/analytics.ts). */
  public readonly analytics: Analytics;

  private readonly prefix: string;
  private readonly removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: PintaStackProps) {
    super(scope, id, props);
    const c = props.config;
    this.config = c;
    this.prefix = `pinta-${c.envName}`;
    this.removalPolicy = c.retention.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // ---------------------------------------------------------------- storage
    this.logBucket = new s3.Bucket(this, 'LogBucket', {
      // Access logs, ALB logs and flow logs only support SSE-S3.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-logs', expiration: Duration.days(c.retention.accessLogsExpirationDays), abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy: this.removalPolicy,
    });

    this.dataBucket = new s3.Bucket(this, 'DataBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 's3-access/data-bucket/',
      lifecycleRules: [
        {
          id: 'crudos-ia-then-expire',
          prefix: 'crudos/',
          transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(c.retention.rawToInfrequentAccessDays) }],
          expiration: Duration.days(c.retention.rawExpirationDays),
        },
        { id: 'staging-expire', prefix: 'staging/', expiration: Duration.days(c.retention.stagingExpirationDays) },
        { id: 'cuarentena-retention', prefix: 'cuarentena/', expiration: Duration.days(c.retention.quarantineExpirationDays) },
        // produccion/ (curated) has no expiration rule: it is kept.
        {
          id: 'noncurrent-versions-and-uploads',
          noncurrentVersionExpiration: Duration.days(c.retention.noncurrentVersionExpirationDays),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      removalPolicy: this.removalPolicy,
    });

    // -------------------------------------------------------------- messaging
    this.topicsKey = new kms.Key(this, 'TopicsKey', {
      description: `Pinta ${c.envName}: encrypts the SNS topics`,
      enableKeyRotation: true,
      alias: `alias/${this.prefix}-topics`,
      removalPolicy: this.removalPolicy,
    });
    // CloudWatch alarms and AWS Budgets publish to the (encrypted) alerts topic.
    this.topicsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAlarmAndBudgetPublishers',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('budgets.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );

    const topic = (id: string, name: string, displayName: string) =>
      new sns.Topic(this, id, { topicName: `${this.prefix}-${name}`, displayName, masterKey: this.topicsKey, enforceSSL: true });
    this.pipelineTopic = topic('PipelineTopic', 'pipeline', 'Pinta pipeline events');
    this.alertsTopic = topic('AlertsTopic', 'alerts', 'Pinta alerts');
    this.publicTopic = topic('PublicTopic', 'public', 'Pinta public events');

    for (const email of c.alertEmails) {
      this.alertsTopic.addSubscription(new subs.EmailSubscription(email));
    }
    this.alertsTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alertsTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.alertsTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowBudgets',
        principals: [new iam.ServicePrincipal('budgets.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alertsTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    if (c.publicTopicSubscriberAccounts.length > 0) {
      this.publicTopic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowDownstreamAccountsToSubscribe',
          principals: c.publicTopicSubscriberAccounts.map((a) => new iam.AccountPrincipal(a)),
          actions: ['sns:Subscribe'],
          resources: [this.publicTopic.topicArn],
        }),
      );
    }

    const fnTimeout = (s: StageService) => c.lambda.functions[s].timeoutSeconds;
    this.queues = {
      transformer: this.workerQueue('transformer', Duration.seconds(6 * fnTimeout('transformer'))),
      validator: this.workerQueue('validator', Duration.seconds(6 * fnTimeout('validator'))),
      notifier: this.workerQueue('notifier', Duration.seconds(6 * fnTimeout('notifier'))),
      gateway: this.workerQueue('gateway', Duration.seconds(c.queues.gatewayVisibilityTimeoutSeconds)),
    };
    // Receives the extractor's failed scheduled (asynchronous) invocations.
    this.extractorDlq = new sqs.Queue(this, 'ExtractorDlq', {
      queueName: `${this.prefix}-extractor-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(c.queues.dlqRetentionDays),
    });

    // --------------------------------------------------------------- network
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(c.vpc.cidr),
      maxAzs: c.vpc.maxAzs,
      natGateways: c.vpc.natGateways,
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        s3: { destination: ec2.FlowLogDestination.toS3(this.logBucket, 'vpc-flow-logs/'), trafficType: ec2.FlowLogTrafficType.REJECT },
      },
    });

    // -------------------------------------------------------------- database
    const dbSecurityGroup = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc: this.vpc,
      description: 'Pinta source MySQL: reachable only from the extractor',
      allowAllOutbound: false,
    });
    this.database = new rds.DatabaseInstance(this, 'SourceDatabase', {
      engine: rds.DatabaseInstanceEngine.mysql({
        version: rds.MysqlEngineVersion.of(c.database.engineVersion, c.database.engineVersion.split('.').slice(0, 2).join('.')),
      }),
      instanceType: new ec2.InstanceType(c.database.instanceType),
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSecurityGroup],
      port: c.database.port,
      databaseName: c.database.databaseName,
      credentials: rds.Credentials.fromGeneratedSecret(c.database.username, { secretName: `${this.prefix}/source-db` }),
      allocatedStorage: c.database.allocatedStorageGb,
      storageType: rds.StorageType.GP3,
      storageEncrypted: true,
      multiAz: c.database.multiAz,
      deletionProtection: c.database.deletionProtection,
      backupRetention: Duration.days(c.database.backupRetentionDays),
      iamAuthentication: true,
      publiclyAccessible: false,
      autoMinorVersionUpgrade: true,
      removalPolicy: c.retention.retainData ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    });

    // Monthly rotation of the generated credentials (the extractor reads the secret on every run).
    this.database.addRotationSingleUser({ automaticallyAfter: Duration.days(30) });

    // -------------------------------------------------------------- functions
    const common = (s: StageService): Record<string, string> => ({
      PINTA_BUCKET: this.dataBucket.bucketName,
      PINTA_SCHEDULE_TZ: c.schedule.timezone,
      PINTA_LOG_FORMAT: 'json',
      RUST_LOG: c.lambda.rustLog,
      ...(s === 'extractor'
        ? { PINTA_DLQ_URL: this.extractorDlq.queueUrl }
        : { PINTA_QUEUE_URL: this.queues[s].queue.queueUrl, PINTA_DLQ_URL: this.queues[s].dlq.queueUrl }),
    });

    const extractorSg = new ec2.SecurityGroup(this, 'ExtractorSecurityGroup', {
      vpc: this.vpc,
      description: 'Pinta extractor: MySQL to the source database, HTTPS to AWS APIs',
      allowAllOutbound: false,
    });
    extractorSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs (S3, SNS, Secrets Manager, KMS)');
    extractorSg.addEgressRule(dbSecurityGroup, ec2.Port.tcp(c.database.port), 'MySQL to the source database');
    dbSecurityGroup.addIngressRule(extractorSg, ec2.Port.tcp(c.database.port), 'MySQL from the extractor');

    const secretArn = this.database.secret!.secretArn;
    const roles = {} as Record<StageService, iam.Role>;
    const functions = {} as Record<StageService, lambda.Function>;

    const stage = (s: StageService, env: Record<string, string>, statements: iam.PolicyStatement[], vpc = false) => {
      const f = c.lambda.functions[s];
      const logGroup = new logs.LogGroup(this, `${cap(s)}LogGroup`, {
        logGroupName: `/aws/lambda/${this.prefix}-${s}`,
        retention: c.retention.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new iam.Role(this, `${cap(s)}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Pinta ${s} (${c.envName}): least privilege`,
      });
      role.addToPolicy(
        new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
      );
      statements.forEach((st) => role.addToPolicy(st));
      const fn = new lambda.Function(this, `${cap(s)}Function`, {
        functionName: `${this.prefix}-${s}`,
        description: `Pinta ${s} (${binaryName(s)})`,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: lambda.Architecture.ARM_64,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(path.join(props.assetsDir, binaryName(s))),
        memorySize: f.memoryMb,
        timeout: Duration.seconds(f.timeoutSeconds),
        reservedConcurrentExecutions: f.reservedConcurrency ?? undefined,
        role,
        logGroup,
        environment: { ...common(s), ...env },
        ...(vpc
          ? { vpc: this.vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, securityGroups: [extractorSg] }
          : {}),
        ...(s === 'extractor' ? { retryAttempts: 2 } : {}),
      });
      if (s === 'extractor') {
        // Failed asynchronous (scheduled) invocations go to the extractor DLQ. Set on the L1 resource so
        // the role gets exactly sqs:SendMessage (the L2 `deadLetterQueue` prop would add more actions).
        (fn.node.defaultChild as lambda.CfnFunction).deadLetterConfig = { targetArn: this.extractorDlq.queueArn };
      }
      roles[s] = role;
      functions[s] = fn;
      return fn;
    };

    const publishTo = (...topics: sns.Topic[]) => [
      new iam.PolicyStatement({ sid: 'PublishEvents', actions: ['sns:Publish'], resources: topics.map((t) => t.topicArn) }),
      new iam.PolicyStatement({ sid: 'UseTopicsKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [this.topicsKey.keyArn] }),
    ];

    const extractor = stage(
      'extractor',
      { PINTA_PIPELINE_TOPIC_ARN: this.pipelineTopic.topicArn, PINTA_SOURCE_SECRET_ARN: secretArn },
      [
        ...this.bucketStatements('extractor'),
        ...publishTo(this.pipelineTopic),
        this.dlqSendStatement(this.extractorDlq),
        new iam.PolicyStatement({ sid: 'ReadSourceDbSecret', actions: ['secretsmanager:GetSecretValue'], resources: [secretArn] }),
        new iam.PolicyStatement({
          sid: 'ManageVpcNetworkInterfaces',
          actions: [
            'ec2:AssignPrivateIpAddresses',
            'ec2:CreateNetworkInterface',
            'ec2:DeleteNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      ],
      true,
    );
    const transformer = stage('transformer', { PINTA_PIPELINE_TOPIC_ARN: this.pipelineTopic.topicArn }, [
      ...this.bucketStatements('transformer'),
      ...publishTo(this.pipelineTopic),
      this.dlqSendStatement(this.queues.transformer.dlq),
    ]);
    const validator = stage(
      'validator',
      { PINTA_PIPELINE_TOPIC_ARN: this.pipelineTopic.topicArn, PINTA_PUBLIC_TOPIC_ARN: this.publicTopic.topicArn },
      [
        ...this.bucketStatements('validator'),
        ...publishTo(this.pipelineTopic, this.publicTopic),
        this.dlqSendStatement(this.queues.validator.dlq),
        new iam.PolicyStatement({
          sid: 'EmitProductionPublishedMetric',
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': PRODUCTION_PUBLISHED_METRIC.namespace } },
        }),
      ],
    );
    const notifier = stage('notifier', { PINTA_ALERTS_TOPIC_ARN: this.alertsTopic.topicArn }, [
      ...this.bucketStatements('notifier'),
      ...publishTo(this.alertsTopic),
      this.dlqSendStatement(this.queues.notifier.dlq),
    ]);
    this.functions = functions;
    this.roles = roles;

    for (const [fn, q, s] of [
      [transformer, this.queues.transformer, 'transformer'],
      [validator, this.queues.validator, 'validator'],
      [notifier, this.queues.notifier, 'notifier'],
    ] as const) {
      fn.addEventSource(new SqsEventSource(q.queue, { batchSize: c.lambda.functions[s].batchSize ?? 1, reportBatchItemFailures: true }));
    }

    // The daily schedule: EventBridge Scheduler, because plain EventBridge rules only run in UTC.
    const schedulerRole = new iam.Role(this, 'ExtractorScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: `Pinta ${c.envName}: lets EventBridge Scheduler invoke the extractor`,
    });
    schedulerRole.addToPolicy(new iam.PolicyStatement({ sid: 'InvokeExtractor', actions: ['lambda:InvokeFunction'], resources: [extractor.functionArn] }));
    schedulerRole.addToPolicy(new iam.PolicyStatement({ sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [this.extractorDlq.queueArn] }));
    new scheduler.CfnSchedule(this, 'ExtractorSchedule', {
      name: `${this.prefix}-extractor-daily`,
      description: 'Runs the extractor for the previous production day',
      scheduleExpression: c.schedule.expression,
      scheduleExpressionTimezone: c.schedule.timezone,
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: extractor.functionArn,
        roleArn: schedulerRole.roleArn,
        input: JSON.stringify({ source: 'pinta.schedule' }),
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
        deadLetterConfig: { arn: this.extractorDlq.queueArn },
      },
    });

    // --------------------------------------------------------------- gateway
    const gw = this.gateway(c);
    this.gatewayService = gw.service;
    this.gatewayTaskRole = gw.taskRole;
    this.loadBalancer = gw.alb;
    this.userPool = gw.userPool;

    // --------------------------------------------------------- observability
    this.observability(c, gw.targetGroup);

    // ------------------------------------------------------------------ cost
    new budgets.CfnBudget(this, 'MonthlyBudget', {
      budget: {
        budgetName: `${this.prefix}-monthly`,
        budgetType: 'COST',
        timeUnit: 'MONTHLY',
        budgetLimit: { amount: c.budget.monthlyLimitUsd, unit: 'USD' },
      },
      notificationsWithSubscribers: [
        {
          notification: { notificationType: 'ACTUAL', comparisonOperator: 'GREATER_THAN', threshold: c.budget.actualThresholdPercent, thresholdType: 'PERCENTAGE' },
          subscribers: [{ subscriptionType: 'SNS', address: this.alertsTopic.topicArn }],
        },
        {
          notification: { notificationType: 'FORECASTED', comparisonOperator: 'GREATER_THAN', threshold: c.budget.forecastThresholdPercent, thresholdType: 'PERCENTAGE' },
          subscribers: [{ subscriptionType: 'SNS', address: this.alertsTopic.topicArn }],
        },
      ],
    });

    // ------------------------------------------------------------- analytics
    this.analytics = new Analytics(this, 'Analytics', { config: c, dataBucket: this.dataBucket, logBucket: this.logBucket });

    // ---------------------------------------------------------------- outputs
    new CfnOutput(this, 'DataBucketName', { value: this.dataBucket.bucketName });
    new CfnOutput(this, 'PipelineTopicArn', { value: this.pipelineTopic.topicArn });
    new CfnOutput(this, 'PublicTopicArn', { value: this.publicTopic.topicArn });
    new CfnOutput(this, 'AlertsTopicArn', { value: this.alertsTopic.topicArn });
    new CfnOutput(this, 'DashboardUrl', {
      value: `${c.gateway.certificateArn ? 'https' : 'http'}://${c.gateway.domainName ?? this.loadBalancer.loadBalancerDnsName}/`,
    });
    new CfnOutput(this, 'SourceDatabaseSecretArn', { value: secretArn });

    applyNagSuppressions(this);
  }

  /** A consumer's queue + DLQ, subscribed to the pipeline topic with a filter policy on `type`. */
  private workerQueue(name: keyof typeof SUBSCRIPTIONS, visibilityTimeout: Duration): WorkerQueue {
    const c = this.config;
    const dlq = new sqs.Queue(this, `${cap(name)}Dlq`, {
      queueName: `${this.prefix}-${name}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(c.queues.dlqRetentionDays),
    });
    const queue = new sqs.Queue(this, `${cap(name)}Queue`, {
      queueName: `${this.prefix}-${name}`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout,
      deadLetterQueue: { queue: dlq, maxReceiveCount: c.queues.maxReceiveCount },
    });
    this.pipelineTopic.addSubscription(
      new subs.SqsSubscription(queue, {
        // The CloudEvents JSON arrives as the SQS body, the `type` attribute as an SQS message attribute.
        rawMessageDelivery: true,
        filterPolicy: { type: sns.SubscriptionFilter.stringFilter({ allowlist: SUBSCRIPTIONS[name] }) },
      }),
    );
    return { queue, dlq };
  }

  /** Exact S3 actions on the prefixes of BUCKET_ACCESS. */
  private bucketStatements(service: StageService | 'gateway'): iam.PolicyStatement[] {
    const access = BUCKET_ACCESS[service];
    const out: iam.PolicyStatement[] = [
      // Without ListBucket a missing idempotency marker / day file answers 403 instead of 404.
      new iam.PolicyStatement({ sid: 'ListDataBucket', actions: ['s3:ListBucket'], resources: [this.dataBucket.bucketArn] }),
    ];
    if (access.read.length > 0) {
      out.push(
        new iam.PolicyStatement({ sid: 'ReadPrefixes', actions: ['s3:GetObject'], resources: access.read.map((p) => this.dataBucket.arnForObjects(`${p}*`)) }),
      );
    }
    if (access.write.length > 0) {
      out.push(
        new iam.PolicyStatement({ sid: 'WritePrefixes', actions: ['s3:PutObject'], resources: access.write.map((p) => this.dataBucket.arnForObjects(`${p}*`)) }),
      );
    }
    return out;
  }

  private dlqSendStatement(dlq: sqs.Queue): iam.PolicyStatement {
    return new iam.PolicyStatement({ sid: 'SendToOwnDlq', actions: ['sqs:SendMessage'], resources: [dlq.queueArn] });
  }

  private gateway(c: PintaConfig) {
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      clusterName: `${this.prefix}`,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const q = this.queues.gateway;

    const taskRole = new iam.Role(this, 'GatewayTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `Pinta dashboard-gateway (${c.envName}): least privilege`,
    });
    this.bucketStatements('gateway').forEach((s) => taskRole.addToPolicy(s));
    taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ConsumeOwnQueue',
        actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        resources: [q.queue.queueArn],
      }),
    );

    const logGroup = new logs.LogGroup(this, 'GatewayLogGroup', {
      logGroupName: `/ecs/${this.prefix}-dashboard-gateway`,
      retention: c.retention.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const taskDef = new ecs.FargateTaskDefinition(this, 'GatewayTaskDefinition', {
      cpu: c.gateway.cpu,
      memoryLimitMiB: c.gateway.memoryMb,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole,
    });
    const repository = ecr.Repository.fromRepositoryName(this, 'GatewayRepository', c.gateway.ecrRepositoryName);
    // Without Cognito the dashboards sign in configured users: PINTA_USERS (name:role:password,…) comes from
    // a secret the operators fill in; until they do, the gateway refuses to start (it never serves a
    // non-loopback address without authentication).
    const usersSecret = c.cognito.enabled
      ? undefined
      : new secretsmanager.Secret(this, 'DashboardUsersSecret', {
          secretName: `${this.prefix}/dashboard-users`,
          description: 'PINTA_USERS of the Pinta dashboards: name:role:password,… (role gerencial or operativo)',
          removalPolicy: this.removalPolicy,
        });
    this.dashboardUsersSecret = usersSecret;
    const container = taskDef.addContainer('gateway', {
      image: ecs.ContainerImage.fromEcrRepository(repository, c.gateway.imageTag),
      essential: true,
      readonlyRootFilesystem: true,
      portMappings: [{ containerPort: 8080, protocol: ecs.Protocol.TCP }],
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'gateway' }),
      environment: {
        PINTA_BUCKET: this.dataBucket.bucketName,
        PINTA_QUEUE_URL: q.queue.queueUrl,
        PINTA_DLQ_URL: q.dlq.queueUrl,
        PINTA_SCHEDULE_TZ: c.schedule.timezone,
        PINTA_LOG_FORMAT: 'json',
        PINTA_BIND: '0.0.0.0',
        PINTA_PORT: '8080',
        RUST_LOG: c.lambda.rustLog,
      },
      secrets: usersSecret ? { PINTA_USERS: ecs.Secret.fromSecretsManager(usersSecret) } : undefined,
    });

    const albSg = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: this.vpc,
      description: 'Pinta dashboards ALB',
      allowAllOutbound: false,
    });
    const serviceSg = new ec2.SecurityGroup(this, 'GatewaySecurityGroup', {
      vpc: this.vpc,
      description: 'Pinta dashboard-gateway tasks',
      allowAllOutbound: false,
    });
    serviceSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs (S3, SQS, ECR, CloudWatch Logs)');
    serviceSg.addIngressRule(albSg, ec2.Port.tcp(8080), 'HTTP/WebSocket from the ALB');
    albSg.addEgressRule(serviceSg, ec2.Port.tcp(8080), 'to the gateway tasks');

    const alb = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: albSg,
      idleTimeout: Duration.seconds(c.gateway.idleTimeoutSeconds),
      dropInvalidHeaderFields: true,
      deletionProtection: c.retention.retainData,
    });
    alb.logAccessLogs(this.logBucket, 'alb');

    const service = new ecs.FargateService(this, 'GatewayService', {
      cluster,
      serviceName: `${this.prefix}-dashboard-gateway`,
      taskDefinition: taskDef,
      desiredCount: c.gateway.minTasks,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [serviceSg],
      assignPublicIp: false,
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(60),
    });

    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'GatewayTargetGroup', {
      vpc: this.vpc,
      port: 8080,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      deregistrationDelay: Duration.seconds(30),
      healthCheck: { path: '/healthz', healthyHttpCodes: '200', interval: Duration.seconds(30), timeout: Duration.seconds(5) },
      targets: [service],
    });

    const scaling = service.autoScaleTaskCount({ minCapacity: c.gateway.minTasks, maxCapacity: c.gateway.maxTasks });
    scaling.scaleOnCpuUtilization('CpuScaling', {
      targetUtilizationPercent: c.gateway.cpuTargetPercent,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    });

    let userPool: cognito.UserPool | undefined;
    let authAction: elbv2.ListenerAction | undefined;
    if (c.cognito.enabled) {
      userPool = new cognito.UserPool(this, 'DashboardUserPool', {
        userPoolName: `${this.prefix}-dashboards`,
        selfSignUpEnabled: false,
        signInAliases: { email: true },
        mfa: cognito.Mfa.REQUIRED,
        mfaSecondFactor: { otp: true, sms: false },
        passwordPolicy: { minLength: 12, requireDigits: true, requireLowercase: true, requireUppercase: true, requireSymbols: true },
        featurePlan: cognito.FeaturePlan.PLUS,
        standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
        accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
        removalPolicy: this.removalPolicy,
      });
      for (const [group, description] of [
        ['gerencial', 'Management dashboards'],
        ['operativo', 'Operations dashboards'],
      ]) {
        new cognito.CfnUserPoolGroup(this, `${cap(group)}Group`, { userPoolId: userPool.userPoolId, groupName: group, description });
      }
      const domain = userPool.addDomain('HostedUi', { cognitoDomain: { domainPrefix: c.cognito.domainPrefix! } });
      const client = userPool.addClient('DashboardClient', {
        generateSecret: true,
        oAuth: {
          flows: { authorizationCodeGrant: true },
          scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
          callbackUrls: [`https://${c.gateway.domainName ?? alb.loadBalancerDnsName}/oauth2/idpresponse`],
        },
      });
      new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId });
      // The gateway verifies the Cognito access token the ALB forwards (x-amzn-oidc-accesstoken) and takes
      // the role from its cognito:groups claim.
      // ProviderURL is `cognito-idp.<region>.amazonaws.com/<pool id>`; the tokens' `iss` is it with https://.
      container.addEnvironment('PINTA_OIDC_ISSUER', `https://${userPool.userPoolProviderUrl}`);
      container.addEnvironment('PINTA_OIDC_AUDIENCE', client.userPoolClientId);
      if (c.gateway.certificateArn) {
        authAction = new elbv2Actions.AuthenticateCognitoAction({
          userPool,
          userPoolClient: client,
          userPoolDomain: domain,
          next: elbv2.ListenerAction.forward([targetGroup]),
        });
      }
    }

    if (c.gateway.certificateArn) {
      albSg.addIngressRule(ec2.Peer.ipv4(c.gateway.allowedCidr), ec2.Port.tcp(443), 'HTTPS to the dashboards');
      albSg.addIngressRule(ec2.Peer.ipv4(c.gateway.allowedCidr), ec2.Port.tcp(80), 'HTTP, redirected to HTTPS');
      if (authAction) {
        // The ALB calls the Cognito token endpoint over HTTPS.
        albSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'Cognito token endpoint');
      }
      alb.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(c.gateway.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
        defaultAction: authAction ?? elbv2.ListenerAction.forward([targetGroup]),
      });
      alb.addRedirect({ sourcePort: 80, targetPort: 443, open: false });
    } else {
      albSg.addIngressRule(ec2.Peer.ipv4(c.gateway.allowedCidr), ec2.Port.tcp(80), 'HTTP to the dashboards');
      alb.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
        defaultAction: elbv2.ListenerAction.forward([targetGroup]),
      });
    }

    return { service, taskRole, alb, userPool, targetGroup };
  }

  private observability(c: PintaConfig, targetGroup: elbv2.ApplicationTargetGroup): void {
    const action = new cwActions.SnsAction(this.alertsTopic);
    const alarm = (id: string, props: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this, id, { alarmName: `${this.prefix}-${props.alarmName}`, ...props, actionsEnabled: true });
      a.addAlarmAction(action);
      this.alarms.push(a);
      return a;
    };

    const dlqs: [string, sqs.Queue][] = [
      ['extractor', this.extractorDlq],
      ...(Object.entries(this.queues) as [string, WorkerQueue][]).map(([n, q]) => [n, q.dlq] as [string, sqs.Queue]),
    ];
    for (const [name, dlq] of dlqs) {
      alarm(`${cap(name)}DlqNotEmptyAlarm`, {
        alarmName: `${name}-dlq-not-empty`,
        alarmDescription: `Messages in the ${name} dead-letter queue`,
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    for (const [name, q] of Object.entries(this.queues) as [string, WorkerQueue][]) {
      alarm(`${cap(name)}QueueAgeAlarm`, {
        alarmName: `${name}-queue-oldest-message-age`,
        alarmDescription: `Oldest message in the ${name} queue is older than ${c.alarms.maxMessageAgeSeconds}s`,
        metric: q.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: c.alarms.maxMessageAgeSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    for (const s of STAGE_SERVICES) {
      const fn = this.functions[s];
      alarm(`${cap(s)}ErrorsAlarm`, {
        alarmName: `${s}-errors`,
        alarmDescription: `The ${s} function reported errors`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm(`${cap(s)}ThrottlesAlarm`, {
        alarmName: `${s}-throttles`,
        alarmDescription: `The ${s} function was throttled`,
        metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    // "No production published by 01:00": the validator puts Pinta/ProductionPublished (Count) once per
    // published day. Hourly periods; ALARM when 24 consecutive hours have no datapoint (missing data is
    // breaching). With the extractor at 00:00 local and a run of well under an hour, yesterday's datapoint
    // falls in the 00:00-01:00 hour, so the alarm fires when the 00:00-01:00 hour of today closes empty.
    const published = new cloudwatch.Metric({
      namespace: PRODUCTION_PUBLISHED_METRIC.namespace,
      metricName: PRODUCTION_PUBLISHED_METRIC.metricName,
      statistic: 'Sum',
      period: Duration.hours(1),
    });
    alarm('NoProductionPublishedAlarm', {
      alarmName: 'no-production-published',
      alarmDescription:
        'No production day was published in the last 24 hours (expected every day by 01:00 ' + c.schedule.timezone + '); see README "No production published" alarm',
      metric: published,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 24,
      datapointsToAlarm: 24,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    alarm('GatewayUnhealthyTargetsAlarm', {
      alarmName: 'gateway-unhealthy-targets',
      alarmDescription: 'The dashboard-gateway has unhealthy targets behind the ALB',
      metric: targetGroup.metrics.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `${this.prefix}-pipeline` });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Function invocations',
        left: STAGE_SERVICES.map((s) => this.functions[s].metricInvocations({ label: s })),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Function errors / throttles',
        left: STAGE_SERVICES.map((s) => this.functions[s].metricErrors({ label: `${s} errors` })),
        right: STAGE_SERVICES.map((s) => this.functions[s].metricThrottles({ label: `${s} throttles` })),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Function duration (p95)',
        left: STAGE_SERVICES.map((s) => this.functions[s].metricDuration({ label: s, statistic: 'p95' })),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Queue depth / DLQ depth',
        left: Object.entries(this.queues).map(([n, q]) => q.queue.metricApproximateNumberOfMessagesVisible({ label: n })),
        right: dlqs.map(([n, q]) => q.metricApproximateNumberOfMessagesVisible({ label: `${n} dlq` })),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.SingleValueWidget({ title: 'Production days published (24h)', metrics: [published.with({ period: Duration.days(1) })], width: 6 }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 6 }),
      new cloudwatch.GraphWidget({
        title: 'Gateway CPU / requests',
        left: [this.gatewayService.metricCpuUtilization()],
        right: [this.loadBalancer.metrics.requestCount()],
        width: 12,
      }),
    );
  }
}
