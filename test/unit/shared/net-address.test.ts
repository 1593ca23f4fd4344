import { describe, expect, it } from 'vitest';
import { isDialableAddress, isPublicAddress, parseAnnouncedAddress } from '../../../shared/net-address.ts';

describe('announced addresses', () => {
  it('parses host:port for IPv4, [IPv6] and DNS names', () => {
    expect(parseAnnouncedAddress('8.8.8.8:443')).toEqual({ host: '8.8.8.8', port: 443, family: 4 });
    expect(parseAnnouncedAddress('[2606:4700::1111]:50051')).toEqual({ host: '2606:4700::1111', port: 50051, family: 6 });
    expect(parseAnnouncedAddress('host-1.example.org:1')).toEqual({ host: 'host-1.example.org', port: 1, family: 'name' });
  });

  it('refuses targets grpc-js would resolve otherwise, and malformed ones', () => {
    for (const a of ['unix:/tmp/s', 'unix:///tmp/s', 'dns:///x:1', 'dns:x:1', 'xds:///x', 'ipv4:1.1.1.1:1', '1.1.1.1',
      '1.1.1.1:0', '1.1.1.1:99999', '[::1]', '::1:80', '999.1.1.1:80', `${'a'.repeat(64)}.com:80`, 'a..b:80', 'a.b:80\n']) {
      expect(parseAnnouncedAddress(a), a).toBeUndefined();
    }
  });

  it('counts loopback, private, link-local, CGNAT, mapped and unspecified addresses and all names as non-public', () => {
    const pub = (a: string) => isPublicAddress(parseAnnouncedAddress(a)!);
    for (const a of ['127.0.0.1:1', '10.2.3.4:1', '172.16.0.1:1', '172.31.255.255:1', '192.168.1.1:1', '169.254.1.1:1', '100.64.0.1:1',
      '0.0.0.0:1', '224.0.0.1:1', '[::1]:1', '[::]:1', '[fd00::1]:1', '[fe80::1]:1', '[::ffff:10.0.0.1]:1', '[::ffff:127.0.0.1]:1',
      'localhost:1', 'example.org:1']) {
      expect(pub(a), a).toBe(false);
    }
    for (const a of ['8.8.8.8:1', '172.32.0.1:1', '100.128.0.1:1', '[2606:4700::1111]:1', '[::ffff:8.8.8.8]:1']) expect(pub(a), a).toBe(true);
  });

  it('dials private addresses only when allowed, malformed ones never', () => {
    expect(isDialableAddress('127.0.0.1:5', false)).toBe(false);
    expect(isDialableAddress('127.0.0.1:5', true)).toBe(true);
    expect(isDialableAddress('8.8.8.8:5', false)).toBe(true);
    expect(isDialableAddress('unix:/x', true)).toBe(false);
  });
});
