/**
 * The two server sides of the loss matrix:
 *
 * - the test peer (src/testing/test-peer.ts) in this process: `/echo?ID` answers `ID`; `/obs/k` observable with
 *   CON notifications (its own retransmissions start at 100 ms, 4 of them); `/blob/k` stores a PUT body and serves
 *   it (Block1 in, Block2 out, 1024-byte blocks);
 * - libcoap 4.3.1 `coap-server-notls`: one server with `-d 8 -e` for requests (a PUT's body is echoed back: `PUT
 *   /echo` with body ID answers ID), one with `-d 64` for observations and transfers (PUT creates a dynamic
 *   resource, observable, that later PUTs update and notify; CON notifications with libcoap's fixed 2 s
 *   ACK_TIMEOUT). Two servers because `-e` would echo the 24 KiB bodies back too. libcoap 4.3.1 stores only the
 *   last block of a Block1 PUT when a copy of that final block arrives again (a duplicate, or a retransmission
 *   after its ACK was lost): reproduced with its own `coap-client-notls` through the same proxy, so it is counted
 *   as the server's fault.
 */
import { lastValueFrom } from 'rxjs';
import { CoapContext, ResponseCode, type ClientSession } from '../src/node';
import { startTestPeer, type TestPeer, type TestResource } from '../src/testing';
import { startLibcoap, type SoakLibcoapServer } from './libcoap';
import { KEPT_LAST_BLOCK, type MatrixTarget } from './matrix';

/** A target and how to stop it. */
export interface RunningTarget extends MatrixTarget {
  close(): Promise<void>;
}

/** The test peer target with `observations` observable resources and `transfers` blob resources. */
export async function testPeerTarget(observations: number, transfers: number): Promise<RunningTarget> {
  const values = new Array<number>(observations).fill(0);
  const blobs = new Map<number, Uint8Array>();
  const resources: TestResource[] = [{ path: '/echo', get: (request) => request.query.join('&') }];
  for (let k = 0; k < observations; k++) resources.push({ path: `/obs/${k}`, observable: true, get: () => String(values[k]) });
  for (let t = 0; t < transfers; t++) {
    resources.push({
      path: `/blob/${t}`,
      put: (request) => {
        blobs.set(t, request.payload);
        return { code: ResponseCode.Changed };
      },
      get: () => blobs.get(t) ?? new Uint8Array(0),
    });
  }
  const peer: TestPeer = await startTestPeer({ resources, notifyType: 'CON', ackTimeout: 100, maxRetransmit: 4, logSize: 1 });
  return {
    name: 'test peer',
    requests: peer.address,
    data: peer.address,
    settle: 4000,
    request: (session: ClientSession, id: number) => session.get('/echo', { query: String(id) }),
    update: (k: number, value: number) => {
      values[k] = value;
      peer.notify(`/obs/${k}`);
      return Promise.resolve();
    },
    close: () => peer.close(),
  };
}

/** The libcoap target (two `coap-server-notls` processes, see the file comment). */
export async function libcoapTarget(observations: number): Promise<RunningTarget> {
  const servers: SoakLibcoapServer[] = [];
  const control = new CoapContext({ transmission: { nstart: 8 } });
  try {
    const echo = await startLibcoap(['-d', '8', '-e']);
    servers.push(echo);
    const data = await startLibcoap(['-d', '64']);
    servers.push(data);
    const updates = control.newClientSession({ server: `coap://127.0.0.1:${data.port}` });
    const update = async (k: number, value: number): Promise<void> => {
      const response = await lastValueFrom(updates.put(`/obs/${k}`, { payload: String(value) }));
      if (!response.ok) throw new Error(`libcoap answered PUT /obs/${k} with ${response.codeName}`);
    };
    // PUT creates the observable resources (-d).
    await Promise.all(Array.from({ length: observations }, (_, k) => update(k, 0)));
    return {
      name: 'libcoap 4.3.1',
      requests: { host: echo.host, port: echo.port },
      data: { host: data.host, port: data.port },
      settle: 7000,
      // libcoap 4.3.1 takes a duplicate of the final Block1 (the proxy's copy, or a retransmission after a lost ACK)
      // for a new transfer starting at that block and stores that block alone; coap-client-notls shows the same.
      serverFaults: new Set([KEPT_LAST_BLOCK]),
      request: (session: ClientSession, id: number) => session.put('/echo', { payload: String(id) }),
      update,
      close: async () => {
        await control.free();
        await Promise.all(servers.map((server) => server.stop()));
      },
    };
  } catch (error) {
    await control.free();
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
}
