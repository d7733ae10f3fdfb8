// `doctor aws`: the EC2 side of an AWS target, through the AWS SDK (no aws CLI needed): the
// credentials the SDK's default chain finds, the instance's state, the EBS volume's state and
// its attachment to that instance. observeAws() is the only code that talks to the SDK (loaded
// lazily: it is large); awsChecks() decides from plain answers.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { scope, type CheckResult } from './check.js';

export interface AwsInputs {
  readonly region?: string;
  readonly instanceId?: string;
  readonly volumeId?: string;
  /** Where the values came from, for messages ("outputs.json", "flags"). */
  readonly source: string;
  /** An EC2 endpoint override (tests, LocalStack); undefined: AWS itself. */
  readonly endpoint?: string;
  readonly endpointFrom?: string;
}

export interface AwsFailure {
  /** EC2's error code (InvalidInstanceID.NotFound, UnauthorizedOperation, …) or a socket code. */
  readonly code?: string;
  readonly message: string;
  /** The API could not be reached at all. */
  readonly network: boolean;
}

export interface InstanceInfo {
  readonly id: string;
  readonly state: string;
  readonly publicIp?: string;
}

export interface VolumeAttachmentInfo {
  readonly instanceId?: string;
  readonly state?: string;
  readonly device?: string;
}

export interface VolumeInfo {
  readonly id: string;
  readonly state: string;
  readonly sizeGiB?: number;
  readonly encrypted?: boolean;
  readonly attachments: readonly VolumeAttachmentInfo[];
}

type Answer<T> =
  { readonly ok: true; readonly value: T | undefined } | { readonly ok: false; readonly error: AwsFailure };

export interface AwsAnswers {
  readonly credentials:
    { readonly ok: true; readonly accessKeyId: string } | { readonly ok: false; readonly message: string };
  readonly instance?: Answer<InstanceInfo>;
  readonly volume?: Answer<VolumeInfo>;
}

const credentialFixes = [
  'aws configure  (writes ~/.aws/credentials for the default profile)',
  'or export AWS_PROFILE=<profile> (a profile in ~/.aws/config, SSO included: aws sso login --profile <profile>)',
  'or export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… (and AWS_SESSION_TOKEN for temporary keys)',
];

/** The checks that cannot run without these inputs, and why. */
export function missingInputs(inputs: AwsInputs): string[] {
  const missing: string[] = [];
  if (!inputs.region) missing.push('region (--region, or region in the outputs file, or AWS_REGION)');
  if (!inputs.instanceId) missing.push('instance id (--instance-id, or instance_id in the outputs file)');
  if (!inputs.volumeId) missing.push('volume id (--volume-id, or volume_id in the outputs file)');
  return missing;
}

function failureCheck(
  check: string,
  title: string,
  what: string,
  error: AwsFailure,
  inputs: AwsInputs,
): CheckResult {
  const checks = scope('aws');
  const where = inputs.endpoint ?? `ec2.${inputs.region ?? '<region>'}.amazonaws.com`;
  if (error.network)
    return checks.fail(
      check,
      title,
      `cannot reach the EC2 API at ${where}: ${error.message}`,
      'no network path to AWS (offline, proxy, DNS, firewall)',
      [
        `check connectivity: curl -sI https://${where.replace(/^https?:\/\//, '')}`,
        'a proxy needs HTTPS_PROXY in the environment',
      ],
    );
  switch (error.code) {
    case 'AuthFailure':
    case 'InvalidClientTokenId':
    case 'UnrecognizedClientException':
    case 'SignatureDoesNotMatch':
      return checks.fail(
        check,
        title,
        `AWS rejected the credentials: ${error.message}`,
        'the access key is wrong, deleted or inactive (or its secret does not match)',
        [
          'aws sts get-caller-identity  (shows which identity the keys belong to, or why they fail)',
          ...credentialFixes,
        ],
      );
    case 'RequestExpired':
    case 'RequestTimeTooSkewed':
      return checks.fail(
        check,
        title,
        error.message,
        "this machine's clock is more than 5 minutes off: AWS rejects the signature",
        ['timedatectl set-ntp true  (then: timedatectl status)'],
      );
    case 'UnauthorizedOperation':
    case 'AccessDenied':
      return checks.fail(
        check,
        title,
        `not allowed to ${what}: ${error.message}`,
        'the identity lacks the read permissions doctor needs',
        [
          'allow ec2:DescribeInstances and ec2:DescribeVolumes to this identity (IAM policy)',
          'aws sts get-caller-identity  (which identity is used)',
        ],
      );
    default:
      return checks.fail(
        check,
        title,
        `${what} failed: ${error.code ? `${error.code}: ` : ''}${error.message}`,
        'EC2 answered with an error',
        [
          `aws ec2 ${what === 'describe the instance' ? `describe-instances --region ${inputs.region ?? '<region>'} --instance-ids ${inputs.instanceId ?? '<id>'}` : `describe-volumes --region ${inputs.region ?? '<region>'} --volume-ids ${inputs.volumeId ?? '<id>'}`}`,
        ],
      );
  }
}

export function awsChecks(inputs: AwsInputs, answers: AwsAnswers): CheckResult[] {
  const checks = scope('aws');
  const results: CheckResult[] = [];
  const region = inputs.region ?? '<region>';
  const instanceId = inputs.instanceId ?? '<instance-id>';
  const volumeId = inputs.volumeId ?? '<volume-id>';

  if (inputs.endpoint) {
    results.push(
      checks.warn(
        'endpoint',
        'EC2 endpoint',
        `requests go to ${inputs.endpoint} (${inputs.endpointFrom ?? 'override'}), not to AWS: the answers below come from there`,
        'an endpoint override is set (a test stub or an emulator)',
        [
          `unset ${inputs.endpointFrom === '--aws-endpoint' ? 'the --aws-endpoint flag' : 'SNAPKEEP_AWS_ENDPOINT'} to ask AWS itself`,
        ],
      ),
    );
  }

  if (answers.credentials.ok) {
    const key = answers.credentials.accessKeyId;
    results.push(
      checks.ok(
        'credentials',
        'AWS credentials',
        `found by the SDK's default chain (access key …${key.slice(-4)})`,
      ),
    );
  } else {
    results.push(
      checks.fail(
        'credentials',
        'AWS credentials',
        answers.credentials.message,
        'the AWS SDK found no credentials: none in the environment, ~/.aws/credentials or ~/.aws/config, SSO, or an instance role',
        credentialFixes,
      ),
    );
  }

  // Instance
  const instance = answers.instance;
  if (!instance) {
    results.push(
      checks.skip(
        'instance',
        'EC2 instance',
        inputs.instanceId ? 'not asked: no credentials' : 'no instance id',
      ),
    );
  } else if (!instance.ok) {
    const code = instance.error.code ?? '';
    if (/^InvalidInstanceID\./.test(code)) {
      results.push(
        checks.fail(
          'instance',
          'EC2 instance',
          `${instanceId} does not exist in ${region} (${code})`,
          `the instance was terminated and replaced, or ${inputs.source} is stale, or it is another region`,
          [
            'snapkeep infra apply  (re-creates it and rewrites the outputs)',
            `aws ec2 describe-instances --region ${region} --filters Name=tag:Name,Values=<name>`,
          ],
        ),
      );
    } else
      results.push(failureCheck('instance', 'EC2 instance', 'describe the instance', instance.error, inputs));
  } else if (!instance.value) {
    results.push(
      checks.fail(
        'instance',
        'EC2 instance',
        `${instanceId} was not found in ${region}`,
        `${inputs.source} names an instance that is gone`,
        ['snapkeep infra apply'],
      ),
    );
  } else {
    const { state } = instance.value;
    const detail = `${instance.value.id} is ${state}${instance.value.publicIp ? ` (public IP ${instance.value.publicIp})` : ''}`;
    const start = [
      `aws ec2 start-instances --region ${region} --instance-ids ${instance.value.id}`,
      `aws ec2 wait instance-running --region ${region} --instance-ids ${instance.value.id}`,
      'without an Elastic IP it gets a new public IP: snapkeep infra apply refreshes the outputs and the target host',
    ];
    if (state === 'running') results.push(checks.ok('instance', 'EC2 instance', detail));
    else if (state === 'pending')
      results.push(
        checks.warn('instance', 'EC2 instance', detail, 'the instance is starting', [
          `aws ec2 wait instance-running --region ${region} --instance-ids ${instance.value.id}`,
        ]),
      );
    else if (state === 'stopped' || state === 'stopping')
      results.push(
        checks.fail(
          'instance',
          'EC2 instance',
          detail,
          'the instance was stopped (by hand, a schedule, or AWS maintenance): its sshd cannot answer',
          start,
        ),
      );
    else
      results.push(
        checks.fail(
          'instance',
          'EC2 instance',
          detail,
          'the instance was terminated; the backup volume survives it only if it is a separate EBS volume',
          ['snapkeep infra apply  (a new instance; the separate backup volume is attached again)'],
        ),
      );
  }

  // Volume
  const volume = answers.volume;
  const attach = [
    `aws ec2 attach-volume --region ${region} --volume-id ${volumeId} --instance-id ${instanceId} --device /dev/sdf`,
    'or snapkeep infra apply  (restores the attachment the infra defines)',
    'then mount it on the host (snapkeep doctor volume shows whether it is)',
  ];
  if (!volume) {
    results.push(
      checks.skip('volume', 'EBS volume', inputs.volumeId ? 'not asked: no credentials' : 'no volume id'),
    );
    results.push(
      checks.skip(
        'attachment',
        'volume attachment',
        inputs.volumeId ? 'not asked: no credentials' : 'no volume id',
      ),
    );
    return results;
  }
  if (!volume.ok || !volume.value) {
    const code = volume.ok ? '' : (volume.error.code ?? '');
    if (!volume.ok && !/^InvalidVolume\./.test(code)) {
      results.push(failureCheck('volume', 'EBS volume', 'describe the volume', volume.error, inputs));
    } else {
      results.push(
        checks.fail(
          'volume',
          'EBS volume',
          `${volumeId} does not exist in ${region}${code ? ` (${code})` : ''}`,
          `the volume was deleted, or ${inputs.source} is stale, or it is another region`,
          [
            `aws ec2 describe-volumes --region ${region} --filters Name=tag:Name,Values=<volume name>`,
            'snapkeep infra apply',
          ],
        ),
      );
    }
    results.push(checks.skip('attachment', 'volume attachment', 'the volume could not be read'));
    return results;
  }
  const info = volume.value;
  const described = `${info.id} is ${info.state}${info.sizeGiB !== undefined ? `, ${info.sizeGiB} GiB` : ''}${info.encrypted === undefined ? '' : info.encrypted ? ', encrypted' : ', NOT encrypted'}`;
  if (info.state === 'in-use') results.push(checks.ok('volume', 'EBS volume', described));
  else if (info.state === 'available')
    results.push(
      checks.fail(
        'volume',
        'EBS volume',
        `${described} (attached to nothing)`,
        'the volume was detached (by hand, or the instance was replaced)',
        attach,
      ),
    );
  else if (info.state === 'creating')
    results.push(
      checks.warn('volume', 'EBS volume', described, 'the volume is being created', [
        'wait, then run snapkeep doctor aws again',
      ]),
    );
  else
    results.push(
      checks.fail('volume', 'EBS volume', described, `the volume is ${info.state}: its data may be gone`, [
        `aws ec2 describe-volumes --region ${region} --volume-ids ${info.id}`,
        `restore from an EBS snapshot: aws ec2 describe-snapshots --region ${region} --filters Name=volume-id,Values=${info.id}`,
      ]),
    );

  const mine = info.attachments.find((attachment) => attachment.instanceId === inputs.instanceId);
  const elsewhere = info.attachments.find((attachment) => attachment.instanceId !== inputs.instanceId);
  if (mine?.state === 'attached') {
    results.push(
      checks.ok(
        'attachment',
        'volume attachment',
        `attached to ${instanceId}${mine.device ? ` as ${mine.device}` : ''}`,
      ),
    );
  } else if (mine?.state === 'attaching') {
    results.push(
      checks.warn(
        'attachment',
        'volume attachment',
        `attaching to ${instanceId}`,
        'an attachment is in progress',
        ['wait, then run snapkeep doctor aws again'],
      ),
    );
  } else if (mine) {
    results.push(
      checks.fail(
        'attachment',
        'volume attachment',
        `${mine.state ?? 'unknown'} from ${instanceId}`,
        'the volume is being detached from the instance',
        attach,
      ),
    );
  } else if (elsewhere) {
    results.push(
      checks.fail(
        'attachment',
        'volume attachment',
        `attached to ${elsewhere.instanceId ?? 'another instance'}, not ${instanceId}`,
        `${inputs.source} names another instance than the one holding the volume (replaced instance, stale outputs)`,
        [
          `aws ec2 detach-volume --region ${region} --volume-id ${info.id}  (only if that instance should not have it)`,
          'snapkeep infra apply  (attaches it where the infra says, and rewrites the outputs)',
        ],
      ),
    );
  } else {
    results.push(
      checks.fail(
        'attachment',
        'volume attachment',
        `${info.id} is not attached to ${instanceId}`,
        'the volume was detached (by hand, or the instance was replaced)',
        attach,
      ),
    );
  }
  return results;
}

// --- effects: the SDK ---------------------------------------------------------------------------

function failureOf(error: unknown): AwsFailure {
  const record = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const message = record.message ?? String(error);
  const socketCode = record.code;
  const network =
    record.$metadata?.httpStatusCode === undefined &&
    (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)$/.test(
      socketCode ?? '',
    ) ||
      record.name === 'TimeoutError' ||
      /ECONNREFUSED|ENOTFOUND|socket hang up|timed? ?out/i.test(message));
  return { code: network ? socketCode : (record.name ?? socketCode), message, network };
}

export async function observeAws(inputs: AwsInputs): Promise<AwsAnswers> {
  // The SDK warns on stderr that its 2027 releases need Node 22; not a finding of this diagnosis.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sdk = await import('@aws-sdk/client-ec2');
  const client: EC2Client = new sdk.EC2Client({
    region: inputs.region,
    ...(inputs.endpoint ? { endpoint: inputs.endpoint } : {}),
    // A diagnosis should answer in seconds: one retry, bounded connection and request times.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 },
  });
  try {
    let credentials: AwsAnswers['credentials'];
    try {
      const resolved = await client.config.credentials();
      credentials = { ok: true, accessKeyId: resolved.accessKeyId };
    } catch (error) {
      credentials = { ok: false, message: (error as Error).message };
    }
    if (!credentials.ok) return { credentials };
    const ask = async <T>(call: () => Promise<T | undefined>): Promise<Answer<T>> => {
      try {
        return { ok: true, value: await call() };
      } catch (error) {
        return { ok: false, error: failureOf(error) };
      }
    };
    const [instance, volume] = await Promise.all([
      inputs.instanceId
        ? ask(async (): Promise<InstanceInfo | undefined> => {
            const answer = await client.send(
              new sdk.DescribeInstancesCommand({ InstanceIds: [inputs.instanceId!] }),
            );
            const found = answer.Reservations?.flatMap((reservation) => reservation.Instances ?? []).find(
              (candidate) => candidate.InstanceId === inputs.instanceId,
            );
            if (!found) return undefined;
            return {
              id: inputs.instanceId!,
              state: found.State?.Name ?? 'unknown',
              publicIp: found.PublicIpAddress,
            };
          })
        : undefined,
      inputs.volumeId
        ? ask(async (): Promise<VolumeInfo | undefined> => {
            const answer = await client.send(
              new sdk.DescribeVolumesCommand({ VolumeIds: [inputs.volumeId!] }),
            );
            const found = answer.Volumes?.find((candidate) => candidate.VolumeId === inputs.volumeId);
            if (!found) return undefined;
            return {
              id: inputs.volumeId!,
              state: found.State ?? 'unknown',
              sizeGiB: found.Size,
              encrypted: found.Encrypted,
              attachments: (found.Attachments ?? []).map((attachment) => ({
                instanceId: attachment.InstanceId,
                state: attachment.State,
                device: attachment.Device,
              })),
            };
          })
        : undefined,
    ]);
    return { credentials, instance, volume };
  } finally {
    client.destroy();
  }
}
