import { describe, expect, it } from 'vitest';
import { AgentCache, type ClientRecord } from '../../src/agents/agent-cache.js';
import type { ListenHandlers } from '../../src/db/notifications.js';

const record = (name: string) => ({ agent: { id: 'agt_x', name }, secrets: [], ancestors: [] }) as unknown as ClientRecord;

/** A cache wired to a fake LISTEN the test drives. */
function wiredCache() {
  let handlers: ListenHandlers | undefined;
  const cache = new AgentCache((_channel, h) => {
    handlers = h;
    return async () => {};
  });
  return { cache, handlers: () => handlers! };
}

describe('AgentCache', () => {
  it('caches nothing without a LISTEN, or before it is in place', async () => {
    let loads = 0;
    const load = async () => record(`read ${++loads}`);
    const bare = new AgentCache();
    await bare.get('agt_x', load);
    await bare.get('agt_x', load);
    expect(loads).toBe(2);
    const { cache } = wiredCache();
    await cache.get('agt_x', load);
    await cache.get('agt_x', load);
    expect(loads).toBe(4);
  });

  it('serves from memory while listening, and rereads after a notification, a local clear or a lost connection', async () => {
    let loads = 0;
    const load = async () => record(`read ${++loads}`);
    const { cache, handlers } = wiredCache();
    handlers().onState(true);
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 1');
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 1');
    handlers().onMessage('');
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 2');
    cache.clear();
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 3');
    handlers().onState(false);
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 4');
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 5');
  });

  it('rereads after a lost LISTEN comes back: what changed while it was down was never announced to it', async () => {
    let loads = 0;
    const load = async () => record(`read ${++loads}`);
    const { cache, handlers } = wiredCache();
    handlers().onState(true);
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 1');
    // The connection drops; a revocation's NOTIFY sent now reaches no one; the LISTEN is back.
    handlers().onState(false);
    handlers().onState(true);
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 2');
    expect((await cache.get('agt_x', load))?.agent.name).toBe('read 2');
  });

  it('does not keep a read that a change overtook', async () => {
    const { cache, handlers } = wiredCache();
    handlers().onState(true);
    let release!: () => void;
    const slow = cache.get('agt_x', () => new Promise<ClientRecord>((resolve) => (release = () => resolve(record('stale')))));
    handlers().onMessage('');
    release();
    expect((await slow)?.agent.name).toBe('stale');
    expect((await cache.get('agt_x', async () => record('fresh')))?.agent.name).toBe('fresh');
  });

  it('does not cache an unknown client', async () => {
    const { cache, handlers } = wiredCache();
    handlers().onState(true);
    await cache.get('agt_x', async () => undefined);
    expect((await cache.get('agt_x', async () => record('registered since')))?.agent.name).toBe('registered since');
  });
});
