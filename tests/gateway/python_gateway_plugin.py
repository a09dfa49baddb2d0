"""pytest plugin: points OpenStack's etcd3gw (and tooz's etcd3+http driver through it) at
the server under test, on the gateway path etcd 3.4 serves.

- etcd3gw's own tests build `Etcd3Client()` with its defaults (localhost:2379, /v3alpha/,
  which etcd 3.4 no longer serves): the defaults come from ETCD3GW_HOST/ETCD3GW_PORT here.
- its tests skip themselves unless a GET of the hard-coded "127.0.0.1:2379" answers: that
  probe is sent to the server under test.
- Debian's tooz 3.1 passes `api_path` to `etcd3gw.client()`, which Debian's etcd3gw 2.0
  does not take: the module function is replaced by one that does.
"""
import os
import sys

import etcd3gw
import urllib3

_module = sys.modules["etcd3gw.client"]
_Etcd3Client = _module.Etcd3Client
_init = _Etcd3Client.__init__
_HOST = os.environ.get("ETCD3GW_HOST", "127.0.0.1")
_PORT = int(os.environ.get("ETCD3GW_PORT", "2379"))


def _patched_init(self, host=_HOST, port=_PORT, protocol="http", ca_cert=None,
                  cert_key=None, cert_cert=None, timeout=None, api_path="/v3/"):
    _init(self, host=host, port=port, protocol=protocol, ca_cert=ca_cert,
          cert_key=cert_key, cert_cert=cert_cert, timeout=timeout, api_path=api_path)


def _client(api_path="/v3/", **kw):
    return _Etcd3Client(api_path=api_path, **kw)


_request = urllib3.PoolManager.request


def _probe_server_under_test(self, method, url, *args, **kw):
    if url == "127.0.0.1:2379":
        url = "%s:%d" % (_HOST, _PORT)
    return _request(self, method, url, *args, **kw)


urllib3.PoolManager.request = _probe_server_under_test
_Etcd3Client.__init__ = _patched_init
etcd3gw.client = _client
_module.client = _client
