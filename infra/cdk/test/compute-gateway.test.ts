import { Match, Template } from 'aws-cdk-lib/assertions';
import { configFor, logicalId, synth, Synth } from './helpers';

let dev: Synth;
let prod: Synth;
let secure: Synth;
let t: Template;
const id = (type: string, prefix: string) => logicalId(t, type, prefix);
const fnProps = (s: Synth, name: string) => s.template.toJSON().Resources[logicalId(s.template, 'AWS::Lambda::Function', `${name}Function`)].Properties;
const CERT = 'arn:aws:acm:us-east-1:000000000000:certificate/test';

beforeAll(() => {
  dev = synth(configFor('dev'));
  t = dev.template;
  prod = synth(configFor('prod'));
  secure = synth(
    configFor('prod', {
      envName: 'secure',
      lambda: { functions: { validator: { memoryMb: 1024, timeoutSeconds: 120, batchSize: 1, reservedConcurrency: 3 } } },
      schedule: { expression: 'cron(30 1 * * ? *)', timezone: 'UTC' },
      gateway: { certificateArn: CERT, domainName: 'dashboards.example.com', minTasks: 3, maxTasks: 9 },
      cognito: { enabled: true, domainPrefix: 'pinta-secure-test' },
    }),
  );
});

describe('compute: stage Lambdas', () => {
  test.each(['Extractor', 'Transformer', 'Validator', 'Notifier'])('%s is provided.al2023 on arm64 with a bootstrap asset', (name) => {
    const p = fnProps(dev, name);
    expect(p.Runtime).toBe('provided.al2023');
    expect(p.Architectures).toEqual(['arm64']);
    expect(p.Handler).toBe('bootstrap');
    expect(p.Code.S3Key).toMatch(/\.zip$/);
    expect(p.MemorySize).toBe(dev.config.lambda.functions[name.toLowerCase() as 'extractor'].memoryMb);
    expect(p.Role).toEqual({ 'Fn::GetAtt': [id('AWS::IAM::Role', `${name}Role`), 'Arn'] });
    expect(p.LoggingConfig).toEqual({ LogGroup: { Ref: id('AWS::Logs::LogGroup', `${name}LogGroup`) } });
  });

  test('memory sizes and reserved concurrency come from configuration', () => {
    expect(fnProps(secure, 'Validator').MemorySize).toBe(1024);
    expect(fnProps(secure, 'Validator').ReservedConcurrentExecutions).toBe(3);
    expect(fnProps(dev, 'Validator').ReservedConcurrentExecutions).toBe(1);
    expect(fnProps(dev, 'Transformer').ReservedConcurrentExecutions).toBeUndefined();
  });

  test('each function gets exactly the PINTA_* variables it reads', () => {
    const keys = (name: string) => Object.keys(fnProps(dev, name).Environment.Variables).sort();
    const common = ['PINTA_BUCKET', 'PINTA_DLQ_URL', 'PINTA_LOG_FORMAT', 'PINTA_SCHEDULE_TZ', 'RUST_LOG'];
    expect(keys('Extractor')).toEqual([...common, 'PINTA_PIPELINE_TOPIC_ARN', 'PINTA_SOURCE_SECRET_ARN'].sort());
    expect(keys('Transformer')).toEqual([...common, 'PINTA_PIPELINE_TOPIC_ARN', 'PINTA_QUEUE_URL'].sort());
    expect(keys('Validator')).toEqual([...common, 'PINTA_PIPELINE_TOPIC_ARN', 'PINTA_PUBLIC_TOPIC_ARN', 'PINTA_QUEUE_URL'].sort());
    expect(keys('Notifier')).toEqual([...common, 'PINTA_ALERTS_TOPIC_ARN', 'PINTA_QUEUE_URL'].sort());
    const v = fnProps(dev, 'Validator').Environment.Variables;
    expect(v.PINTA_LOG_FORMAT).toBe('json');
    expect(v.PINTA_SCHEDULE_TZ).toBe('America/Mexico_City');
    expect(v.PINTA_BUCKET).toEqual({ Ref: id('AWS::S3::Bucket', 'DataBucket') });
    expect(v.PINTA_QUEUE_URL).toEqual({ Ref: id('AWS::SQS::Queue', 'ValidatorQueue') });
    expect(v.PINTA_DLQ_URL).toEqual({ Ref: id('AWS::SQS::Queue', 'ValidatorDlq') });
    expect(v.PINTA_PUBLIC_TOPIC_ARN).toEqual({ Ref: id('AWS::SNS::Topic', 'PublicTopic') });
    expect(fnProps(dev, 'Notifier').Environment.Variables.PINTA_ALERTS_TOPIC_ARN).toEqual({ Ref: id('AWS::SNS::Topic', 'AlertsTopic') });
    expect(fnProps(dev, 'Extractor').Environment.Variables.PINTA_SOURCE_SECRET_ARN).toEqual({
      Ref: id('AWS::SecretsManager::SecretTargetAttachment', 'SourceDatabaseSecretAttachment'),
    });
  });

  test.each(['Transformer', 'Validator', 'Notifier'])('%s consumes its queue with reportBatchItemFailures', (name) => {
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: id('AWS::Lambda::Function', `${name}Function`) },
      EventSourceArn: { 'Fn::GetAtt': [id('AWS::SQS::Queue', `${name}Queue`), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('exactly three event source mappings (the extractor is scheduled, not queue-driven)', () => {
    expect(Object.keys(t.findResources('AWS::Lambda::EventSourceMapping'))).toHaveLength(3);
  });
});

describe('compute: schedule', () => {
  test('EventBridge Scheduler runs the extractor at cron(0 0 * * ? *) in America/Mexico_City', () => {
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 0 * * ? *)',
      ScheduleExpressionTimezone: 'America/Mexico_City',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: { 'Fn::GetAtt': [id('AWS::Lambda::Function', 'ExtractorFunction'), 'Arn'] },
        RoleArn: { 'Fn::GetAtt': [id('AWS::IAM::Role', 'ExtractorScheduleRole'), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [id('AWS::SQS::Queue', 'ExtractorDlq'), 'Arn'] } },
      },
    });
  });

  test('expression and time zone come from configuration', () => {
    secure.template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(30 1 * * ? *)', ScheduleExpressionTimezone: 'UTC' });
    expect(fnProps(secure, 'Extractor').Environment.Variables.PINTA_SCHEDULE_TZ).toBe('UTC');
  });

  test('failed asynchronous extractor runs go to the extractor DLQ', () => {
    expect(fnProps(dev, 'Extractor').DeadLetterConfig).toEqual({ TargetArn: { 'Fn::GetAtt': [id('AWS::SQS::Queue', 'ExtractorDlq'), 'Arn'] } });
  });
});

describe('compute: VPC and database', () => {
  test('the extractor runs in the private subnets with its own security group', () => {
    const vpc = fnProps(dev, 'Extractor').VpcConfig;
    expect(vpc.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [id('AWS::EC2::SecurityGroup', 'ExtractorSecurityGroup'), 'GroupId'] }]);
    expect(vpc.SubnetIds.map((s: { Ref: string }) => s.Ref).every((r: string) => r.startsWith('Vpcprivate'))).toBe(true);
    for (const name of ['Transformer', 'Validator', 'Notifier']) expect(fnProps(dev, name).VpcConfig).toBeUndefined();
  });

  test('an encrypted, private RDS MySQL instance in the isolated subnets with generated credentials', () => {
    t.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'mysql',
      EngineVersion: dev.config.database.engineVersion,
      StorageEncrypted: true,
      PubliclyAccessible: false,
      MultiAZ: false,
      DBSubnetGroupName: { Ref: id('AWS::RDS::DBSubnetGroup', 'SourceDatabaseSubnetGroup') },
    });
    prod.template.hasResourceProperties('AWS::RDS::DBInstance', { MultiAZ: true, DeletionProtection: true });
    const group = t.toJSON().Resources[id('AWS::RDS::DBSubnetGroup', 'SourceDatabaseSubnetGroup')].Properties;
    expect(group.SubnetIds.every((s: { Ref: string }) => s.Ref.startsWith('Vpcisolated'))).toBe(true);
    t.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: Match.objectLike({ SecretStringTemplate: Match.stringLikeRegexp('pinta_admin') }) });
    t.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
  });

  test('only the extractor (and the rotation function) may reach the database port', () => {
    const ingress = Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (r) => r.Properties.GroupId['Fn::GetAtt']?.[0] === id('AWS::EC2::SecurityGroup', 'DatabaseSecurityGroup'),
    );
    const sources = ingress.map((r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]).sort();
    expect(sources).toHaveLength(2);
    expect(sources).toContain(id('AWS::EC2::SecurityGroup', 'ExtractorSecurityGroup'));
    const ports = ingress.map((r) => JSON.stringify(r.Properties.FromPort));
    expect(ports).toContain('3306');
    // The rotation function's rule uses the instance's endpoint port (the same 3306).
    for (const p of ports) expect(['3306', JSON.stringify({ 'Fn::GetAtt': [id('AWS::RDS::DBInstance', 'SourceDatabase'), 'Endpoint.Port'] })]).toContain(p);
  });
});

describe('gateway: ECS Fargate behind an ALB', () => {
  test('Fargate service on arm64 with the image from the configured ECR repository', () => {
    t.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE', DesiredCount: dev.config.gateway.minTasks });
    const td = t.toJSON().Resources[id('AWS::ECS::TaskDefinition', 'GatewayTaskDefinition')].Properties;
    expect(td.RuntimePlatform).toEqual({ CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
    const c = td.ContainerDefinitions[0];
    expect(c.PortMappings).toEqual([{ ContainerPort: 8080, Protocol: 'tcp' }]);
    expect(JSON.stringify(c.Image)).toContain('pinta-dashboard-gateway:latest');
    expect(c.Environment.map((e: { Name: string }) => e.Name).sort()).toEqual(
      ['PINTA_BIND', 'PINTA_BUCKET', 'PINTA_DLQ_URL', 'PINTA_LOG_FORMAT', 'PINTA_PORT', 'PINTA_QUEUE_URL', 'PINTA_SCHEDULE_TZ', 'RUST_LOG'].sort(),
    );
    // Without Cognito, the users come from a secret, never from plain environment.
    expect(c.Secrets.map((e: { Name: string }) => e.Name)).toEqual(['PINTA_USERS']);
    expect(JSON.stringify(c.Secrets[0].ValueFrom)).toContain(id('AWS::SecretsManager::Secret', 'DashboardUsersSecret'));
    expect(td.TaskRoleArn).toEqual({ 'Fn::GetAtt': [id('AWS::IAM::Role', 'GatewayTaskRole'), 'Arn'] });
  });

  test('ALB idle timeout is long enough for WebSockets', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '3600' }]),
    });
  });

  test('target group health-checks /healthz on port 8080', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8080,
      Protocol: 'HTTP',
      TargetType: 'ip',
      HealthCheckPath: '/healthz',
      Matcher: { HttpCode: '200' },
    });
  });

  test('CPU-based auto-scaling between the configured min and max', () => {
    for (const [s, min, max] of [
      [dev, 1, 2],
      [secure, 3, 9],
    ] as const) {
      s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: min, MaxCapacity: max, ScalableDimension: 'ecs:service:DesiredCount' });
      s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
          TargetValue: s.config.gateway.cpuTargetPercent,
        }),
      });
    }
  });

  test('tasks only accept traffic from the ALB', () => {
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [id('AWS::EC2::SecurityGroup', 'GatewaySecurityGroup'), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [id('AWS::EC2::SecurityGroup', 'LoadBalancerSecurityGroup'), 'GroupId'] },
      FromPort: 8080,
    });
    expect(t.toJSON().Resources[id('AWS::EC2::SecurityGroup', 'GatewaySecurityGroup')].Properties.SecurityGroupIngress).toBeUndefined();
  });

  test('without a certificate: plain HTTP listener forwarding to the gateway, no Cognito', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP', DefaultActions: [Match.objectLike({ Type: 'forward' })] });
    t.resourceCountIs('AWS::Cognito::UserPool', 0);
  });

  test('Cognito enabled: user pool with the gerencial and operativo groups', () => {
    for (const s of [prod, secure]) {
      s.template.hasResourceProperties('AWS::Cognito::UserPool', { MfaConfiguration: 'ON', AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } });
      const groups = Object.values(s.template.findResources('AWS::Cognito::UserPoolGroup')).map((g) => g.Properties.GroupName);
      expect(groups.sort()).toEqual(['gerencial', 'operativo']);
      // The gateway verifies the Cognito tokens itself: issuer = the pool, audience = the app client.
      const td = Object.values(s.template.findResources('AWS::ECS::TaskDefinition'))[0].Properties;
      const env = Object.fromEntries(td.ContainerDefinitions[0].Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
      expect(env.PINTA_OIDC_ISSUER).toEqual({
        'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [s.stack.getLogicalId(s.stack.userPool!.node.defaultChild as any), 'ProviderURL'] }]],
      });
      expect(Object.keys(env.PINTA_OIDC_AUDIENCE)).toEqual(['Ref']);
      expect(td.ContainerDefinitions[0].Secrets).toBeUndefined();
      expect(Object.keys(s.template.findResources('AWS::SecretsManager::Secret')).filter((k) => k.startsWith('DashboardUsersSecret'))).toEqual([]);
    }
  });

  test('with a certificate: HTTPS listener authenticating with Cognito, HTTP redirects', () => {
    const st = secure.template;
    st.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERT }],
      DefaultActions: [Match.objectLike({ Type: 'authenticate-cognito', Order: 1 }), Match.objectLike({ Type: 'forward', Order: 2 })],
    });
    st.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443', Protocol: 'HTTPS' }) })],
    });
    st.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      CallbackURLs: ['https://dashboards.example.com/oauth2/idpresponse'],
    });
  });
});
