/** Key arithmetic etcd's clients and server share. */

/** clientv3's GetPrefixRangeEnd: the first key after every key starting with `key`. */
export function prefixEnd(key: Uint8Array): Uint8Array {
  for (let i = key.length - 1; i >= 0; i--) {
    if (key[i] < 0xff) {
      const end = key.slice(0, i + 1);
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]);
}
