import * as fs from 'fs';
import * as path from 'path';

/** The four stage services deployed as Lambda functions. */
export const STAGE_SERVICES = ['extractor', 'transformer', 'validator', 'notifier'] as const;
export type StageService = (typeof STAGE_SERVICES)[number];

/** Per-function numbers. Memory sizes MUST follow bench/RESULTS.md (see README). */
export interface FunctionConfig {
  /** Memory in MB: the measured peak RSS of bench/RESULTS.md (1M-row day) x 1.25, rounded up to 64 MB. */
  readonly memoryMb: number;
  /** Function timeout in seconds. The consuming queue's visibility timeout is 6x this. */
  readonly timeoutSeconds: number;
  /** Reserved concurrency; omit (or null) for none. Set where ordering matters (validator). */
  readonly reservedConcurrency?: number | null;
  /** SQS batch size for the event source (ignored for the extractor). */
  readonly batchSize?: number;
}

export interface PintaConfig {
  /** Short environment name used in resource names and tags: `dev`, `prod`. */
  readonly envName: string;
  /** AWS account id. Null: taken from CDK_DEFAULT_ACCOUNT (or left environment-agnostic). */
  readonly account?: string | null;
  /** AWS region. Null: taken from CDK_DEFAULT_REGION. */
  readonly region?: string | null;
  /** E-mail addresses subscribed to the alerts topic. */
  readonly alertEmails: string[];
  /** Accounts allowed to subscribe to the public topic (12-digit ids). */
  readonly publicTopicSubscriberAccounts: string[];
  readonly schedule: {
    /** EventBridge Scheduler expression for the extractor, e.g. `cron(0 0 * * ? *)`. */
    readonly expression: string;
    /** IANA time zone the expression is evaluated in; also given to the services as PINTA_SCHEDULE_TZ. */
    readonly timezone: string;
  };
  readonly retention: {
    /** Days after which `crudos/` objects move to S3 Standard-IA (>= 30). */
    readonly rawToInfrequentAccessDays: number;
    /** Days after which `crudos/` objects expire. */
    readonly rawExpirationDays: number;
    /** Days after which `staging/` objects expire. */
    readonly stagingExpirationDays: number;
    /** Days after which `cuarentena/` objects expire. */
    readonly quarantineExpirationDays: number;
    /** Days after which non-current object versions are deleted. */
    readonly noncurrentVersionExpirationDays: number;
    /** Days the log bucket keeps access logs, ALB logs and VPC flow logs. */
    readonly accessLogsExpirationDays: number;
    /** CloudWatch Logs retention in days, for every log group (must be a value CloudWatch accepts). */
    readonly logRetentionDays: number;
    /** Whether stateful resources (buckets, database) are retained when the stack is deleted. */
    readonly retainData: boolean;
  };
  readonly lambda: {
    /** Directory with the pre-built `pinta-<service>/bootstrap` assets; overridden by context/env. */
    readonly assetsDir?: string;
    /** RUST_LOG value for the functions and the gateway. */
    readonly rustLog: string;
    readonly functions: Record<StageService, FunctionConfig>;
  };
  readonly queues: {
    /** Receives before a message is moved to the queue's DLQ. */
    readonly maxReceiveCount: number;
    /** DLQ message retention in days (max 14). */
    readonly dlqRetentionDays: number;
    /** Visibility timeout of the gateway's queue (the gateway is not a Lambda). */
    readonly gatewayVisibilityTimeoutSeconds: number;
  };
  readonly vpc: {
    readonly cidr: string;
    readonly maxAzs: number;
    /** NAT gateways for the private subnets (Fargate tasks and the extractor). */
    readonly natGateways: number;
  };
  readonly database: {
    /** RDS MySQL engine version (full version, e.g. `8.4.7`). */
    readonly engineVersion: string;
    /** Instance class, e.g. `t4g.micro`. */
    readonly instanceType: string;
    readonly allocatedStorageGb: number;
    readonly multiAz: boolean;
    readonly deletionProtection: boolean;
    readonly backupRetentionDays: number;
    /** Schema name created in the instance. */
    readonly databaseName: string;
    /** Master user; its generated password lives in Secrets Manager. */
    readonly username: string;
    readonly port: number;
  };
  readonly gateway: {
    /** ECR repository name holding the dashboard-gateway image (built from docker/gateway/Dockerfile). */
    readonly ecrRepositoryName: string;
    readonly imageTag: string;
    readonly cpu: number;
    readonly memoryMb: number;
    readonly minTasks: number;
    readonly maxTasks: number;
    readonly cpuTargetPercent: number;
    /** ALB idle timeout; long for WebSockets. */
    readonly idleTimeoutSeconds: number;
    /** ACM certificate for an HTTPS listener; null serves plain HTTP on port 80. */
    readonly certificateArn?: string | null;
    /** DNS name the dashboards are served on (matches the certificate); used for the Cognito callback URL. */
    readonly domainName?: string | null;
    /** CIDR allowed to reach the ALB. */
    readonly allowedCidr: string;
  };
  readonly cognito: {
    /** Creates a Cognito user pool with the groups `gerencial` and `operativo`. */
    readonly enabled: boolean;
    /** Prefix of the hosted-UI domain (must be globally unique in the region). */
    readonly domainPrefix?: string | null;
  };
  readonly alarms: {
    /** ApproximateAgeOfOldestMessage threshold of the main queues, in seconds. */
    readonly maxMessageAgeSeconds: number;
  };
  readonly budget: {
    /** Monthly cost budget in USD. */
    readonly monthlyLimitUsd: number;
    /** Percentage of actual spend that notifies the alerts topic. */
    readonly actualThresholdPercent: number;
    /** Percentage of forecasted spend that notifies the alerts topic. */
    readonly forecastThresholdPercent: number;
  };
  /** The analysts' catalogue of the lake: Glue tables `produccion`/`cuarentena` and an Athena workgroup. */
  readonly analytics: {
    /** First month (`YYYY-MM`) of the partition projection on the month folder; the range ends at NOW. */
    readonly firstMonth: string;
    /** Per-query data-scanned limit of the analysts' workgroup, in MiB (Athena's minimum is 10 MB). */
    readonly bytesScannedCutoffPerQueryMb: number;
    /** Days after which query results under `athena-results/` of the log bucket expire. */
    readonly resultsExpirationDays: number;
  };
}

/** Reads `config/<env>.json` relative to the CDK app directory. */
export function loadConfig(envName: string, configDir = path.join(__dirname, '..', 'config')): PintaConfig {
  if (!/^[a-z0-9-]+$/.test(envName)) {
    throw new Error(`invalid env name "${envName}" (expected lowercase letters, digits, '-')`);
  }
  const file = path.join(configDir, `${envName}.json`);
  if (!fs.existsSync(file)) {
    throw new Error(`no configuration for env "${envName}": ${file} does not exist`);
  }
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  const config = stripComments(raw) as PintaConfig;
  validateConfig(config);
  return config;
}

/** Removes keys starting with `_` (used for comments in the JSON files). */
function stripComments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripComments);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([k]) => !k.startsWith('_'))
        .map(([k, v]) => [k, stripComments(v)]),
    );
  }
  return value;
}

/** Throws on values that would deploy something broken. */
export function validateConfig(c: PintaConfig): void {
  const errors: string[] = [];
  const need = (cond: boolean, msg: string) => {
    if (!cond) errors.push(msg);
  };
  need(typeof c.envName === 'string' && /^[a-z0-9-]+$/.test(c.envName), 'envName must be lowercase letters/digits/-');
  need(c.account == null || /^\d{12}$/.test(c.account), 'account must be a 12-digit id or null');
  need(Array.isArray(c.alertEmails) && c.alertEmails.every((e) => /^[^@\s]+@[^@\s]+$/.test(e)), 'alertEmails must be e-mail addresses');
  need(
    Array.isArray(c.publicTopicSubscriberAccounts) && c.publicTopicSubscriberAccounts.every((a) => /^\d{12}$/.test(a)),
    'publicTopicSubscriberAccounts must be 12-digit account ids',
  );
  need(/^(cron|rate|at)\(.+\)$/.test(c.schedule?.expression ?? ''), 'schedule.expression must be cron(...), rate(...) or at(...)');
  need(typeof c.schedule?.timezone === 'string' && c.schedule.timezone.length > 0, 'schedule.timezone is required');
  const r = c.retention;
  need(r.rawToInfrequentAccessDays >= 30, 'retention.rawToInfrequentAccessDays must be >= 30 (S3 Standard-IA minimum)');
  need(r.rawExpirationDays > r.rawToInfrequentAccessDays, 'retention.rawExpirationDays must exceed rawToInfrequentAccessDays');
  need(r.stagingExpirationDays >= 1, 'retention.stagingExpirationDays must be >= 1');
  need(r.quarantineExpirationDays >= 1, 'retention.quarantineExpirationDays must be >= 1');
  need(c.queues.maxReceiveCount >= 1, 'queues.maxReceiveCount must be >= 1');
  need(c.queues.dlqRetentionDays >= 1 && c.queues.dlqRetentionDays <= 14, 'queues.dlqRetentionDays must be 1..14');
  for (const s of ['extractor', 'transformer', 'validator', 'notifier'] as const) {
    const f = c.lambda.functions[s];
    need(f !== undefined, `lambda.functions.${s} is required`);
    if (!f) continue;
    need(f.memoryMb >= 128 && f.memoryMb <= 10240, `lambda.functions.${s}.memoryMb must be 128..10240`);
    need(f.timeoutSeconds >= 1 && f.timeoutSeconds <= 900, `lambda.functions.${s}.timeoutSeconds must be 1..900`);
    // SQS visibility timeout is capped at 12 hours; 6x the timeout must fit.
    need(f.timeoutSeconds * 6 <= 43200, `lambda.functions.${s}.timeoutSeconds * 6 must be <= 43200`);
  }
  need(c.gateway.minTasks >= 1 && c.gateway.maxTasks >= c.gateway.minTasks, 'gateway.minTasks >= 1 and maxTasks >= minTasks');
  need(c.gateway.idleTimeoutSeconds >= 1 && c.gateway.idleTimeoutSeconds <= 4000, 'gateway.idleTimeoutSeconds must be 1..4000');
  need(!c.cognito.enabled || !!c.cognito.domainPrefix, 'cognito.domainPrefix is required when cognito.enabled');
  need(!c.gateway.certificateArn || !!c.gateway.domainName, 'gateway.domainName is required when gateway.certificateArn is set');
  need(c.budget.monthlyLimitUsd > 0, 'budget.monthlyLimitUsd must be > 0');
  const a = c.analytics;
  need(/^\d{4}-(0[1-9]|1[0-2])$/.test(a?.firstMonth ?? ''), 'analytics.firstMonth must be YYYY-MM');
  need(
    Number.isInteger(a?.bytesScannedCutoffPerQueryMb) && a.bytesScannedCutoffPerQueryMb * 1024 * 1024 >= 10_000_000,
    'analytics.bytesScannedCutoffPerQueryMb must be an integer >= 10 (Athena minimum 10 MB)',
  );
  need(Number.isInteger(a?.resultsExpirationDays) && a.resultsExpirationDays >= 1, 'analytics.resultsExpirationDays must be an integer >= 1');
  if (errors.length > 0) {
    throw new Error(`invalid Pinta configuration "${c.envName}":\n - ${errors.join('\n - ')}`);
  }
}
