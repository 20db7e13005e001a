import { NagSuppressions } from 'cdk-nag';
import type { PintaStack } from './pinta-stack';

/** appliesTo matcher for the object-ARN wildcards of the data bucket (`<bucket arn>/<prefix>/*`). */
const BUCKET_PREFIX_OBJECTS = { regex: '/^Resource::<DataBucket[0-9A-F]*\\.Arn>\\/[A-Za-z0-9_/-]+\\/\\*$/g' };

const PREFIX_REASON =
  'Object-level actions (exact: s3:GetObject / s3:PutObject) are scoped to the key prefixes this service owns; ' +
  'an S3 prefix can only be expressed as an object ARN ending in "/*".';

/**
 * Every cdk-nag AwsSolutions finding that is accepted, each with the reason. Anything else fails the
 * nag test in test/nag.test.ts.
 */
export function applyNagSuppressions(stack: PintaStack): void {
  const c = stack.config;
  if (stack.dashboardUsersSecret) {
    NagSuppressions.addResourceSuppressions(stack.dashboardUsersSecret, [
      {
        id: 'AwsSolutions-SMG4',
        reason: 'A list of dashboard users and passwords kept by the operators (no database to rotate against); ' +
          'deployments that need managed credentials enable Cognito instead.',
      },
    ]);
  }

  for (const role of [...Object.values(stack.roles), stack.gatewayTaskRole]) {
    NagSuppressions.addResourceSuppressions(role, [{ id: 'AwsSolutions-IAM5', reason: PREFIX_REASON, appliesTo: [BUCKET_PREFIX_OBJECTS] }], true);
  }
  NagSuppressions.addResourceSuppressions(
    stack.roles.extractor,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Lambda needs ec2:CreateNetworkInterface/DescribeNetworkInterfaces/DescribeSubnets/DeleteNetworkInterface/' +
          'Assign/UnassignPrivateIpAddresses to attach the extractor to the VPC; the Describe* actions do not support resource-level permissions.',
        appliesTo: ['Resource::*'],
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(
    stack.roles.validator,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'cloudwatch:PutMetricData has no resource-level permissions; the statement is limited by the condition cloudwatch:namespace = Pinta.',
        appliesTo: ['Resource::*'],
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(
    stack.gatewayService.taskDefinition,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'The task execution role needs ecr:GetAuthorizationToken, which only supports Resource "*"; the image pull actions are scoped to the repository.',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-ECS2',
        reason: 'The environment holds only non-secret names (bucket, queue URLs, time zone, log settings); the gateway holds no credentials.',
      },
    ],
    true,
  );

  NagSuppressions.addResourceSuppressions(stack.analytics.analystPolicy, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'The analyst reads exactly the objects of the two catalogued tables (s3:GetObject on produccion/* and cuarentena/*, which Athena reads for them) ' +
        'and reads/writes its query results under athena-results/ of the log bucket (s3:GetObject/PutObject/AbortMultipartUpload/ListMultipartUploadParts); ' +
        'an S3 prefix can only be expressed as an object ARN ending in "/*".',
      appliesTo: [BUCKET_PREFIX_OBJECTS, { regex: '/^Resource::<LogBucket[0-9A-F]*\\.Arn>\\/athena-results\\/\\*$/g' }],
    },
  ]);

  if (c.gateway.allowedCidr === '0.0.0.0/0') {
    NagSuppressions.addResourceSuppressions(
      stack.node.findChild('LoadBalancerSecurityGroup'),
      [
        {
          id: 'AwsSolutions-EC23',
          reason:
            'The internet-facing ALB serves the dashboards to plant staff on the public internet (restrict with gateway.allowedCidr); ' +
            'only the listener ports are open and the tasks accept traffic only from the ALB security group.',
        },
      ],
      true,
    );
  }

  if (c.database.port === 3306) {
    NagSuppressions.addResourceSuppressions(
      stack.database,
      [
        {
          id: 'AwsSolutions-RDS11',
          reason:
            'The MySQL default port is kept for client compatibility; the instance is in isolated subnets and its security group only admits the extractor (and the rotation function).',
        },
      ],
      true,
    );
  }
  if (!c.database.multiAz) {
    NagSuppressions.addResourceSuppressions(
      stack.database,
      [{ id: 'AwsSolutions-RDS3', reason: `Single-AZ in "${c.envName}" to save cost (database.multiAz=false); production enables Multi-AZ.` }],
      true,
    );
  }
  if (!c.database.deletionProtection) {
    NagSuppressions.addResourceSuppressions(
      stack.database,
      [{ id: 'AwsSolutions-RDS10', reason: `"${c.envName}" is disposable (database.deletionProtection=false); production enables deletion protection.` }],
      true,
    );
  }
}
