/**
 * The analysts' catalogue of the lake: a Glue database with the tables `produccion` (curated) and
 * `cuarentena` (quarantine) over their bucket prefixes, partition projection on the month folder (no
 * crawler), an Athena workgroup with enforced limits, and the managed policy "analyst".
 *
 * The columns come from `contracts/glue-tables.json`, generated from the Arrow schemas the validator
 * writes (contracts/src/glue.rs); they are never typed here. See docs/analysts.md.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Arn, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PintaConfig } from './config';

/** The committed, generated description of the tables (contracts/glue-tables.json). */
export const GLUE_TABLES_FILE = path.resolve(__dirname, '..', '..', '..', 'contracts', 'glue-tables.json');

export interface GlueColumn {
  readonly name: string;
  readonly type: string;
  readonly comment: string;
}

export interface LakeTable {
  /** Glue table name: `produccion` or `cuarentena`. */
  readonly name: string;
  /** Bucket prefix of the table, e.g. `produccion/` (month folders `YYYY-MM/` below it). */
  readonly prefix: string;
  readonly columns: GlueColumn[];
}

/** Reads and checks the generated tables file. */
export function loadLakeTables(file = GLUE_TABLES_FILE): LakeTable[] {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { tables?: LakeTable[] };
  const tables = doc.tables ?? [];
  const names = tables.map((t) => t.name).sort();
  if (JSON.stringify(names) !== JSON.stringify(['cuarentena', 'produccion'])) {
    throw new Error(`${file}: expected the tables cuarentena and produccion, found ${JSON.stringify(names)}`);
  }
  for (const t of tables) {
    if (!/^[a-z_]+\/$/.test(t.prefix) || t.columns.length === 0 || t.columns.some((c) => !c.name || !c.type)) {
      throw new Error(`${file}: table ${t.name} has a bad prefix or columns; regenerate it (PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts)`);
    }
  }
  return tables;
}

/** Partition key of both tables: the month folder `YYYY-MM` (hive-less: `produccion/2025-03/…`). */
export const MONTH_PARTITION_KEY = 'mes';

/** Key prefix of the Athena query results in the log bucket. */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';

export const PARQUET = {
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  serde: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
} as const;

/** The exact actions the analyst policy grants. */
export const ANALYST_ACTIONS = {
  athena: [
    'athena:BatchGetQueryExecution',
    'athena:GetQueryExecution',
    'athena:GetQueryResults',
    'athena:GetWorkGroup',
    'athena:ListQueryExecutions',
    'athena:StartQueryExecution',
    'athena:StopQueryExecution',
  ],
  glue: ['glue:GetDatabase', 'glue:GetPartition', 'glue:GetPartitions', 'glue:GetTable', 'glue:GetTables'],
  results: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'],
} as const;

export interface AnalyticsProps {
  readonly config: PintaConfig;
  readonly dataBucket: s3.IBucket;
  /** Receives the query results under ATHENA_RESULTS_PREFIX (SSE-S3, like everything in it). */
  readonly logBucket: s3.Bucket;
}

export class Analytics extends Construct {
  public readonly databaseName: string;
  public readonly database: glue.CfnDatabase;
  public readonly tables: Record<string, glue.CfnTable> = {};
  public readonly workGroup: athena.CfnWorkGroup;
  public readonly analystPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: AnalyticsProps) {
    super(scope, id);
    const { config: c, dataBucket, logBucket } = props;
    const stack = Stack.of(this);
    // Glue/Athena names: lowercase letters, digits and underscores.
    this.databaseName = `pinta_${c.envName.replace(/-/g, '_')}`;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description: `Pinta ${c.envName}: the curated (produccion) and quarantine (cuarentena) layers of the data bucket`,
      },
    });

    for (const t of loadLakeTables()) {
      const location = `s3://${dataBucket.bucketName}/${t.prefix}`;
      const table = new glue.CfnTable(this, `${t.name.charAt(0).toUpperCase()}${t.name.slice(1)}Table`, {
        catalogId: stack.account,
        databaseName: this.databaseName,
        tableInput: {
          name: t.name,
          description: `Pinta ${t.prefix}YYYY-MM/*.parquet, one file per production day`,
          tableType: 'EXTERNAL_TABLE',
          parameters: {
            EXTERNAL: 'TRUE',
            classification: 'parquet',
            'parquet.compression': 'SNAPPY',
            // Partition projection: Athena computes the month folders, no crawler and no partition list.
            'projection.enabled': 'true',
            [`projection.${MONTH_PARTITION_KEY}.type`]: 'date',
            [`projection.${MONTH_PARTITION_KEY}.format`]: 'yyyy-MM',
            [`projection.${MONTH_PARTITION_KEY}.range`]: `${c.analytics.firstMonth},NOW`,
            [`projection.${MONTH_PARTITION_KEY}.interval`]: '1',
            [`projection.${MONTH_PARTITION_KEY}.interval.unit`]: 'MONTHS',
            // The folders are `YYYY-MM/`, not `mes=YYYY-MM/`.
            'storage.location.template': `${location}\${${MONTH_PARTITION_KEY}}/`,
          },
          partitionKeys: [{ name: MONTH_PARTITION_KEY, type: 'string', comment: 'Month folder, YYYY-MM' }],
          storageDescriptor: {
            location,
            inputFormat: PARQUET.inputFormat,
            outputFormat: PARQUET.outputFormat,
            serdeInfo: { serializationLibrary: PARQUET.serde, parameters: { 'serialization.format': '1' } },
            columns: t.columns.map((col) => ({ name: col.name, type: col.type, comment: col.comment })),
          },
        },
      });
      table.addResourceDependency(this.database);
      this.tables[t.name] = table;
    }

    logBucket.addLifecycleRule({
      id: 'athena-results-expire',
      prefix: ATHENA_RESULTS_PREFIX,
      expiration: Duration.days(c.analytics.resultsExpirationDays),
      abortIncompleteMultipartUploadAfter: Duration.days(1),
    });

    const workGroupName = `pinta-${c.envName}-analysts`;
    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: workGroupName,
      description: `Pinta ${c.envName}: analysts' queries over ${this.databaseName}`,
      state: 'ENABLED',
      recursiveDeleteOption: !c.retention.retainData,
      workGroupConfiguration: {
        // Clients cannot override the location, encryption or limit below.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: c.analytics.bytesScannedCutoffPerQueryMb * 1024 * 1024,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${logBucket.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
          expectedBucketOwner: stack.account,
        },
      },
    });

    const workGroupArn = Arn.format({ service: 'athena', resource: 'workgroup', resourceName: workGroupName }, stack);
    const catalogArn = Arn.format({ service: 'glue', resource: 'catalog' }, stack);
    const databaseArn = Arn.format({ service: 'glue', resource: 'database', resourceName: this.databaseName }, stack);
    const tableArns = Object.keys(this.tables)
      .sort()
      .map((name) => Arn.format({ service: 'glue', resource: 'table', resourceName: `${this.databaseName}/${name}` }, stack));
    const prefixes = loadLakeTables()
      .map((t) => t.prefix)
      .sort();

    this.analystPolicy = new iam.ManagedPolicy(this, 'AnalystPolicy', {
      managedPolicyName: `pinta-${c.envName}-analyst`,
      description: `Pinta ${c.envName}: query ${this.databaseName}.produccion/cuarentena in the ${workGroupName} Athena workgroup`,
      statements: [
        new iam.PolicyStatement({ sid: 'QueryInAnalystsWorkGroup', actions: [...ANALYST_ACTIONS.athena], resources: [workGroupArn] }),
        new iam.PolicyStatement({ sid: 'ReadLakeTableDefinitions', actions: [...ANALYST_ACTIONS.glue], resources: [catalogArn, databaseArn, ...tableArns] }),
        new iam.PolicyStatement({ sid: 'ReadLakeTableObjects', actions: ['s3:GetObject'], resources: prefixes.map((p) => dataBucket.arnForObjects(`${p}*`)) }),
        new iam.PolicyStatement({
          sid: 'ListLakeTablePrefixes',
          actions: ['s3:ListBucket'],
          resources: [dataBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': prefixes.flatMap((p) => [p, `${p}*`]) } },
        }),
        new iam.PolicyStatement({
          sid: 'LocateBuckets',
          actions: ['s3:GetBucketLocation'],
          resources: [dataBucket.bucketArn, logBucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadWriteQueryResults',
          actions: [...ANALYST_ACTIONS.results],
          resources: [logBucket.arnForObjects(`${ATHENA_RESULTS_PREFIX}*`)],
        }),
        new iam.PolicyStatement({
          sid: 'ListQueryResults',
          actions: ['s3:ListBucket'],
          resources: [logBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [ATHENA_RESULTS_PREFIX, `${ATHENA_RESULTS_PREFIX}*`] } },
        }),
      ],
    });

    new CfnOutput(stack, 'AnalyticsDatabaseName', { value: this.databaseName });
    new CfnOutput(stack, 'AnalystsWorkGroupName', { value: workGroupName });
    new CfnOutput(stack, 'AnalystPolicyArn', { value: this.analystPolicy.managedPolicyArn });
  }
}
