// A stand-in for the EC2 API on 127.0.0.1, for doctor's AWS checks (no AWS is reachable here).
// It speaks the EC2 Query protocol: form-encoded POSTs (Action=DescribeInstances&InstanceId.1=…)
// answered with XML in the shape of the EC2 API reference's examples, so the real AWS SDK signs
// the requests and parses real-looking responses — the boundary is only the endpoint URL
// (SNAPKEEP_AWS_ENDPOINT). The test changes the scenario between calls (stop the instance,
// detach the volume) and can read the requests it received (the SigV4 Authorization header).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { loopback } from './net.js';

export interface StubInstance {
  state: 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
  publicIp?: string;
}

export interface StubVolume {
  state: 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
  sizeGiB: number;
  attachments: {
    instanceId: string;
    state: 'attaching' | 'attached' | 'detaching' | 'detached';
    device: string;
  }[];
}

export interface Ec2Stub {
  readonly url: string;
  readonly instances: Map<string, StubInstance>;
  readonly volumes: Map<string, StubVolume>;
  readonly requests: { action: string; params: URLSearchParams; headers: IncomingHttpHeaders }[];
  stop(): Promise<void>;
}

const stateCodes: Record<StubInstance['state'], number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

const xmlns = 'http://ec2.amazonaws.com/doc/2016-11-15/';

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
}

function listed(params: URLSearchParams, prefix: string): string[] {
  const values: string[] = [];
  for (let index = 1; params.has(`${prefix}.${index}`); index++)
    values.push(params.get(`${prefix}.${index}`)!);
  return values;
}

function describeInstances(
  instances: Map<string, StubInstance>,
  params: URLSearchParams,
): { status: number; body: string } {
  const ids = listed(params, 'InstanceId');
  const missing = ids.filter((id) => !instances.has(id));
  if (missing.length > 0)
    return {
      status: 400,
      body: errorXml('InvalidInstanceID.NotFound', `The instance ID '${missing.join(', ')}' does not exist`),
    };
  const items = ids
    .map((id) => {
      const instance = instances.get(id)!;
      return `<item>
          <instanceId>${id}</instanceId>
          <imageId>ami-0abcdef1234567890</imageId>
          <instanceState><code>${stateCodes[instance.state]}</code><name>${instance.state}</name></instanceState>
          <instanceType>t3.micro</instanceType>
          <placement><availabilityZone>eu-central-1a</availabilityZone><tenancy>default</tenancy></placement>
          ${instance.publicIp ? `<ipAddress>${instance.publicIp}</ipAddress>` : ''}
        </item>`;
    })
    .join('');
  return {
    status: 200,
    body: `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="${xmlns}">
  <requestId>${randomUUID()}</requestId>
  <reservationSet>
    <item>
      <reservationId>r-0123456789abcdef0</reservationId>
      <ownerId>123456789012</ownerId>
      <groupSet/>
      <instancesSet>${items}</instancesSet>
    </item>
  </reservationSet>
</DescribeInstancesResponse>`,
  };
}

function describeVolumes(
  volumes: Map<string, StubVolume>,
  params: URLSearchParams,
): { status: number; body: string } {
  const ids = listed(params, 'VolumeId');
  const missing = ids.filter((id) => !volumes.has(id));
  if (missing.length > 0)
    return {
      status: 400,
      body: errorXml('InvalidVolume.NotFound', `The volume '${missing.join(', ')}' does not exist.`),
    };
  const items = ids
    .map((id) => {
      const volume = volumes.get(id)!;
      const attachments = volume.attachments
        .map(
          (attachment) => `<item>
              <volumeId>${id}</volumeId>
              <instanceId>${attachment.instanceId}</instanceId>
              <device>${attachment.device}</device>
              <status>${attachment.state}</status>
              <attachTime>2026-01-01T00:00:00.000Z</attachTime>
              <deleteOnTermination>false</deleteOnTermination>
            </item>`,
        )
        .join('');
      return `<item>
          <volumeId>${id}</volumeId>
          <size>${volume.sizeGiB}</size>
          <snapshotId/>
          <availabilityZone>eu-central-1a</availabilityZone>
          <status>${volume.state}</status>
          <createTime>2026-01-01T00:00:00.000Z</createTime>
          <attachmentSet>${attachments}</attachmentSet>
          <volumeType>gp3</volumeType>
          <encrypted>true</encrypted>
          <multiAttachEnabled>false</multiAttachEnabled>
        </item>`;
    })
    .join('');
  return {
    status: 200,
    body: `<?xml version="1.0" encoding="UTF-8"?>
<DescribeVolumesResponse xmlns="${xmlns}">
  <requestId>${randomUUID()}</requestId>
  <volumeSet>${items}</volumeSet>
</DescribeVolumesResponse>`,
  };
}

export async function startEc2Stub(): Promise<Ec2Stub> {
  const instances = new Map<string, StubInstance>();
  const volumes = new Map<string, StubVolume>();
  const requests: Ec2Stub['requests'] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = params.get('Action') ?? '';
      requests.push({ action, params, headers: request.headers });
      let answer: { status: number; body: string };
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(request.headers.authorization ?? ''))
        answer = {
          status: 401,
          body: errorXml('AuthFailure', 'AWS was not able to validate the provided access credentials'),
        };
      else if (action === 'DescribeInstances') answer = describeInstances(instances, params);
      else if (action === 'DescribeVolumes') answer = describeVolumes(volumes, params);
      else
        answer = {
          status: 400,
          body: errorXml('InvalidAction', `The action ${action} is not valid for this web service.`),
        };
      response.writeHead(answer.status, { 'content-type': 'text/xml;charset=UTF-8' });
      response.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, loopback, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://${loopback}:${port}`,
    instances,
    volumes,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
