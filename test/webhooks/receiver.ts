import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { vi } from 'vitest';

/** One request as the receiver saw it, with what its signatures verified against. */
export interface ReceivedRequest {
  readonly id: string;
  readonly timestamp: string;
  readonly signatures: string[];
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly payload: { type: string; timestamp: string; data: Record<string, unknown> };
  /** The names of the secrets whose signature verified, with the `standardwebhooks` package. */
  readonly verifiedBy: string[];
  /** The status the receiver answered. */
  status?: number;
}

/** How the receiver answers its n-th request (from 0): a status and headers, or holding it open until released. */
export type Answer = { status: number; headers?: Record<string, string> } | 'hold';

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** Message ids answered with a 2xx, each as often as it was. */
  readonly accepted: string[];
  /** Answers every held request with this status. */
  release(status: number): void;
  close(): Promise<void>;
}

/**
 * A webhook receiver on loopback, verifying every request with the `standardwebhooks` package
 * against each named secret at the time `at` says (the hub's clock, which tests move).
 */
export async function startReceiver(options: {
  secrets: () => Record<string, string>;
  answer?: (index: number, request: ReceivedRequest) => Answer;
  at?: () => Date;
}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const accepted: string[] = [];
  const held: { response: http.ServerResponse; request: ReceivedRequest }[] = [];
  const reply = (response: http.ServerResponse, request: ReceivedRequest, status: number, headers: Record<string, string> = {}) => {
    request.status = status;
    if (status >= 200 && status < 300) accepted.push(request.id);
    response.writeHead(status, headers).end('ok');
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const headers = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
      const verifiedBy = Object.entries(options.secrets())
        .filter(([, secret]) => verifiesAt(secret, body, headers, options.at?.() ?? new Date()))
        .map(([name]) => name);
      const request: ReceivedRequest = {
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signatures: headers['webhook-signature'].split(' '),
        headers: req.headers,
        body,
        payload: JSON.parse(body),
        verifiedBy,
      };
      const index = requests.push(request) - 1;
      const answer = options.answer?.(index, request) ?? { status: 200 };
      if (answer === 'hold') held.push({ response: res, request });
      else reply(res, request, answer.status, answer.headers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    requests,
    accepted,
    release: (status) => held.splice(0).forEach(({ response, request }) => reply(response, request, status)),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * `Webhook.verify` as of `at`: the package checks the timestamp against the current time, and
 * the hub stamps attempts with its own clock, which tests move.
 */
function verifiesAt(secret: string, body: string, headers: Record<string, string>, at: Date): boolean {
  vi.useFakeTimers({ toFake: ['Date'], now: at });
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  } finally {
    vi.useRealTimers();
  }
}
