// Tests the mDNS answer on loopback only: a plain resolver's query (not from port 5353) is answered by unicast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { advertiseMdns, aptProxyService } from './mdns-advertiser.ts';

test('answers a query for _apt_proxy._tcp with PTR, SRV (the port) and A records, over loopback', async () => {
  const querier = createSocket('udp4');
  querier.bind(0, '127.0.0.1');
  await once(querier, 'listening');
  const probe = createSocket('udp4');
  probe.bind(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = probe.address().port;
  probe.close();
  // Unicast to 127.0.0.1 only: no multicast membership, nothing leaves the machine.
  const advertiser = advertiseMdns({
    name: 'hoard test',
    port: 3142,
    host: 'cache',
    addresses: ['127.0.0.1'],
    socket: { multicast: false, ip: '127.0.0.1', port, interface: '127.0.0.1', bind: '127.0.0.1', reuseAddr: true, loopback: true },
    logger: pino({ level: 'silent' }),
  });
  try {
    const answered = once(querier, 'message');
    querier.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: aptProxyService, type: 'PTR' }] }), port, '127.0.0.1');
    const [message] = (await answered) as [Buffer];
    const response = dnsPacket.decode(message);
    const ptr = response.answers?.find((a) => a.type === 'PTR');
    const srv = response.answers?.find((a) => a.type === 'SRV');
    const a = response.answers?.find((r) => r.type === 'A');
    assert.equal(ptr?.type === 'PTR' ? ptr.data : undefined, `hoard test.${aptProxyService}`);
    assert.deepEqual(srv?.type === 'SRV' ? { port: srv.data.port, target: srv.data.target } : undefined, { port: 3142, target: 'cache.local' });
    assert.equal(a?.type === 'A' ? a.data : undefined, '127.0.0.1');
  } finally {
    querier.close();
    await advertiser.close();
  }
});
