import assert from 'node:assert/strict';
import { test } from 'vitest';
import { peerKey } from '../../../expert-host/peer-key.ts';

test('public IPv4: the address, whatever the port (connections are free, addresses are not)', () => {
  assert.equal(peerKey('203.0.113.7:50123'), '203.0.113.7');
  assert.equal(peerKey('203.0.113.7:1'), peerKey('203.0.113.7:65535'));
  assert.notEqual(peerKey('203.0.113.7:1'), peerKey('203.0.113.8:1'));
  assert.equal(peerKey('::ffff:203.0.113.7:4000'), '203.0.113.7', 'IPv4-mapped IPv6 is the IPv4 peer');
});

test('loopback: one peer per connection (address and port)', () => {
  assert.equal(peerKey('127.0.0.1:40000'), '127.0.0.1:40000');
  assert.notEqual(peerKey('127.0.0.1:40000'), peerKey('127.0.0.1:40001'));
  assert.equal(peerKey('127.0.0.2:7'), '127.0.0.2:7');
  assert.equal(peerKey('::1:40000'), '[::1]:40000', 'grpc-js writes IPv6 peers without brackets');
  assert.equal(peerKey('[::1]:40000'), '[::1]:40000');
  assert.equal(peerKey('::ffff:127.0.0.1:9'), '127.0.0.1:9');
});

test('public IPv6: the /64 prefix', () => {
  assert.equal(peerKey('2001:db8:1:2:3:4:5:6:443'), '2001:db8:1:2::/64');
  assert.equal(peerKey('2001:db8:1:2::99:443'), '2001:db8:1:2::/64');
  assert.equal(peerKey('2001:db8:1:2:ffff::1:8'), peerKey('2001:db8:1:2::7:9'), 'same /64, any interface id, any port');
  assert.notEqual(peerKey('2001:db8:1:3::1:8'), peerKey('2001:db8:1:2::1:8'));
  assert.equal(peerKey('2001:db8::1:80'), '2001:db8:0:0::/64');
  assert.equal(peerKey('fe80::1%eth0:80'), 'fe80:0:0:0::/64');
});

test('anything else is its own key', () => {
  assert.equal(peerKey('unknown'), 'unknown');
  assert.equal(peerKey('/run/swarmpath.sock'), '/run/swarmpath.sock');
  assert.equal(peerKey('not-an-ip:80'), 'not-an-ip:80');
});
