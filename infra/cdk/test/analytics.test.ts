import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import { ANALYST_ACTIONS, GLUE_TABLES_FILE, loadLakeTables } from '../lib/analytics';
import { validateConfig } from '../lib/config';
import { configFor, logicalId, Statement, synth } from './helpers';

let t: Template;
let prod: Template;
const committed = JSON.parse(fs.readFileSync(GLUE_TABLES_FILE, 'utf8')) as { tables: { name: string; prefix: string; columns: unknown[] }[] };
const dataBucketArn = () => ({ 'Fn::GetAtt': [logicalId(t, 'AWS::S3::Bucket', 'DataBucket'), 'Arn'] });
const logBucketArn = () => ({ 'Fn::GetAtt': [logicalId(t, 'AWS::S3::Bucket', 'LogBucket'), 'Arn'] });
const objects = (bucketArn: unknown, suffix: string) => ({ 'Fn::Join': ['', [bucketArn, suffix]] });
const arn = (service: string, resource: string) => ({
  // dev pins its region (config/dev.json); the account comes from the deployment.
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:us-east-1:`, { Ref: 'AWS::AccountId' }, `:${resource}`]],
});

beforeAll(() => {
  t = synth(configFor('dev')).template;
  prod = synth(configFor('prod')).template;
});

const tables = (tpl: Template) => Object.values(tpl.findResources('AWS::Glue::Table')).map((r) => r.Properties);
const table = (name: string, tpl = t) => {
  const found = tables(tpl).filter((p) => p.TableInput.Name === name);
  expect(found).toHaveLength(1);
  return found[0];
};
const dataBucketName = () => ({ Ref: logicalId(t, 'AWS::S3::Bucket', 'DataBucket') });

describe('Glue catalogue of the lake', () => {
  test('one database, pinta_<env>, in the account catalogue; no crawler', () => {
    const dbs = Object.values(t.findResources('AWS::Glue::Database')).map((r) => r.Properties);
    expect(dbs).toHaveLength(1);
    expect(dbs[0].CatalogId).toEqual({ Ref: 'AWS::AccountId' });
    expect(dbs[0].DatabaseInput.Name).toBe('pinta_dev');
    t.resourceCountIs('AWS::Glue::Crawler', 0);
    expect(tables(t).map((p) => p.DatabaseName).sort()).toEqual(['pinta_dev', 'pinta_dev']);
  });

  test.each(['produccion', 'cuarentena'])('%s: columns are exactly the generated schema file', (name) => {
    const generated = committed.tables.find((x) => x.name === name)!;
    expect(generated).toBeDefined();
    expect(table(name).TableInput.StorageDescriptor.Columns).toEqual(
      (generated.columns as { name: string; type: string; comment: string }[]).map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
    );
  });

  test('the curated columns carry the Parquet names and Hive types', () => {
    const cols = table('produccion').TableInput.StorageDescriptor.Columns.map((c: { Name: string; Type: string }) => `${c.Name}:${c.Type}`);
    expect(cols).toEqual([
      'Fecha de producción:timestamp',
      'Tipo de pintura producida:string',
      'Cantidad producida:bigint',
      'Costo por litro producido:double',
      'Costo de la producción:double',
      'Operador:string',
    ]);
  });

  test.each(['produccion', 'cuarentena'])('%s: Parquet SerDe over its prefix, partition projection on the month folder', (name) => {
    const ti = table(name).TableInput;
    expect(ti.TableType).toBe('EXTERNAL_TABLE');
    expect(ti.PartitionKeys).toEqual([{ Name: 'mes', Type: 'string', Comment: 'Month folder, YYYY-MM' }]);
    const sd = ti.StorageDescriptor;
    expect(sd.Location).toEqual({ 'Fn::Join': ['', ['s3://', dataBucketName(), `/${name}/`]] });
    expect(sd.InputFormat).toBe('org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat');
    expect(sd.OutputFormat).toBe('org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat');
    expect(sd.SerdeInfo.SerializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
    const p = ti.Parameters;
    expect(p).toMatchObject({
      classification: 'parquet',
      'projection.enabled': 'true',
      'projection.mes.type': 'date',
      'projection.mes.format': 'yyyy-MM',
      'projection.mes.range': '2024-01,NOW',
      'projection.mes.interval': '1',
      'projection.mes.interval.unit': 'MONTHS',
    });
    // Hive-less month folders: s3://<bucket>/produccion/${mes}/, never .../mes=${mes}/.
    expect(p['storage.location.template']).toEqual({ 'Fn::Join': ['', ['s3://', dataBucketName(), `/${name}/\${mes}/`]] });
  });

  test('the projection starts at the configured first month', () => {
    const other = synth(configFor('dev', { envName: 'other', analytics: { firstMonth: '2019-07' } })).template;
    expect(tables(other).map((p) => p.TableInput.Parameters['projection.mes.range'])).toEqual(['2019-07,NOW', '2019-07,NOW']);
    expect(tables(other).map((p) => p.DatabaseName)).toEqual(['pinta_other', 'pinta_other']);
  });

  test('a generated file without both tables, or with a bad prefix, is refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinta-glue-'));
    const write = (doc: unknown) => {
      const f = path.join(dir, `t${Math.random()}.json`);
      fs.writeFileSync(f, JSON.stringify(doc));
      return f;
    };
    const col = [{ name: 'a', type: 'string', comment: '' }];
    expect(() => loadLakeTables(write({ tables: [{ name: 'produccion', prefix: 'produccion/', columns: col }] }))).toThrow(/cuarentena and produccion/);
    expect(() =>
      loadLakeTables(
        write({
          tables: [
            { name: 'produccion', prefix: '../x/', columns: col },
            { name: 'cuarentena', prefix: 'cuarentena/', columns: col },
          ],
        }),
      ),
    ).toThrow(/bad prefix/);
    expect(loadLakeTables().map((x) => x.prefix).sort()).toEqual(['cuarentena/', 'produccion/']);
  });
});

describe('Athena workgroup for analysts', () => {
  const workGroup = (tpl: Template) => {
    const wgs = Object.values(tpl.findResources('AWS::Athena::WorkGroup')).map((r) => r.Properties);
    expect(wgs).toHaveLength(1);
    return wgs[0];
  };

  test('enforced configuration, 100 MiB per query in dev, SSE-S3 results in the log bucket', () => {
    const wg = workGroup(t);
    expect(wg.Name).toBe('pinta-dev-analysts');
    expect(wg.State).toBe('ENABLED');
    const wc = wg.WorkGroupConfiguration;
    expect(wc.EnforceWorkGroupConfiguration).toBe(true);
    expect(wc.BytesScannedCutoffPerQuery).toBe(100 * 1024 * 1024);
    expect(wc.PublishCloudWatchMetricsEnabled).toBe(true);
    expect(wc.ResultConfiguration.OutputLocation).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: logicalId(t, 'AWS::S3::Bucket', 'LogBucket') }, '/athena-results/']],
    });
    expect(wc.ResultConfiguration.EncryptionConfiguration).toEqual({ EncryptionOption: 'SSE_S3' });
  });

  test('the limit is per stage (prod config) and below the Athena minimum is refused', () => {
    expect(workGroup(prod).WorkGroupConfiguration.BytesScannedCutoffPerQuery).toBe(1024 * 1024 * 1024);
    const bad = configFor('dev', { analytics: { bytesScannedCutoffPerQueryMb: 9 } });
    expect(() => validateConfig(bad)).toThrow(/bytesScannedCutoffPerQueryMb/);
    expect(() => validateConfig(configFor('dev', { analytics: { firstMonth: '2024-13' } }))).toThrow(/firstMonth/);
    expect(() => validateConfig(configFor('dev', { analytics: { resultsExpirationDays: 0 } }))).toThrow(/resultsExpirationDays/);
  });

  test('query results expire: a lifecycle rule on athena-results/ of the log bucket', () => {
    const bucket = t.toJSON().Resources[logicalId(t, 'AWS::S3::Bucket', 'LogBucket')].Properties;
    const rules = bucket.LifecycleConfiguration.Rules.filter((r: { Prefix?: string }) => r.Prefix === 'athena-results/');
    expect(rules).toEqual([expect.objectContaining({ Status: 'Enabled', ExpirationInDays: 7 })]);
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
  });
});

describe('the "analyst" managed policy', () => {
  const policy = () => {
    const ps = Object.values(t.findResources('AWS::IAM::ManagedPolicy')).filter((r) => r.Properties.ManagedPolicyName === 'pinta-dev-analyst');
    expect(ps).toHaveLength(1);
    return ps[0].Properties;
  };
  const statements = (): Statement[] => policy().PolicyDocument.Statement;
  const bySid = (sid: string) => {
    const s = statements().filter((x) => x.Sid === sid);
    expect(s).toHaveLength(1);
    return s[0];
  };

  test('exactly these statements, all Allow, attached to no one by the stack', () => {
    const got = statements().map((s) => [s.Sid, s.Effect, ([] as string[]).concat(s.Action).sort()]);
    expect(got).toEqual([
      ['QueryInAnalystsWorkGroup', 'Allow', [...ANALYST_ACTIONS.athena]],
      ['ReadLakeTableDefinitions', 'Allow', [...ANALYST_ACTIONS.glue]],
      ['ReadLakeTableObjects', 'Allow', ['s3:GetObject']],
      ['ListLakeTablePrefixes', 'Allow', ['s3:ListBucket']],
      ['LocateBuckets', 'Allow', ['s3:GetBucketLocation']],
      ['ReadWriteQueryResults', 'Allow', ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject']],
      ['ListQueryResults', 'Allow', ['s3:ListBucket']],
    ]);
    expect(ANALYST_ACTIONS.athena).toEqual(
      expect.arrayContaining(['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup']),
    );
    expect(policy().Roles ?? []).toEqual([]);
    expect(policy().Users ?? []).toEqual([]);
  });

  test('athena only on the analysts workgroup', () => {
    expect(bySid('QueryInAnalystsWorkGroup').Resource).toEqual(arn('athena', 'workgroup/pinta-dev-analysts'));
  });

  test('glue only on the catalog, the database and the two tables', () => {
    expect(bySid('ReadLakeTableDefinitions').Resource).toEqual([
      arn('glue', 'catalog'),
      arn('glue', 'database/pinta_dev'),
      arn('glue', 'table/pinta_dev/cuarentena'),
      arn('glue', 'table/pinta_dev/produccion'),
    ]);
  });

  test('s3: objects of the two prefixes only, listing limited to them, results prefix read/write', () => {
    expect(bySid('ReadLakeTableObjects').Resource).toEqual([objects(dataBucketArn(), '/cuarentena/*'), objects(dataBucketArn(), '/produccion/*')]);
    const list = bySid('ListLakeTablePrefixes');
    expect(list.Resource).toEqual(dataBucketArn());
    expect(list.Condition).toEqual({ StringLike: { 's3:prefix': ['cuarentena/', 'cuarentena/*', 'produccion/', 'produccion/*'] } });
    expect(bySid('LocateBuckets').Resource).toEqual([dataBucketArn(), logBucketArn()]);
    expect(bySid('ReadWriteQueryResults').Resource).toEqual(objects(logBucketArn(), '/athena-results/*'));
    const results = bySid('ListQueryResults');
    expect(results.Resource).toEqual(logBucketArn());
    expect(results.Condition).toEqual({ StringLike: { 's3:prefix': ['athena-results/', 'athena-results/*'] } });
    // Nothing else of the bucket: no raw, staging or control data.
    const all = JSON.stringify(statements());
    for (const p of ['crudos', 'staging', '_control', 'catalogos', 'historico']) expect(all).not.toContain(p);
  });
});
