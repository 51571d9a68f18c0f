#!/usr/bin/env python3
"""The official Python keys client releases a key (secure key release) from Keyhaven: an exportable RSA key with a
release policy is created, its policy read back, the key released to an attestation token made by the test, and the
answer opened with the `cryptography` package alone — the JWS's signature checked with the key its `jku` names, the
wrapped key unwrapped with the runtime private key (RSA-OAEP-256, then AES key wrap with padding) — and shown to be
the vault's key: it signs, and the vault verifies.

  python py_key_release.py CREDENTIAL_JSON CA_PEM RELEASE_JSON
RELEASE_JSON: {"token": attestation token, "policy": release policy JSON, "runtimeKeyPem": PKCS#8 PEM}.
Exit code 0 = every step passed.
"""
import base64
import hashlib
import json
import socket
import ssl
import sys
import urllib.request
import uuid

_orig = socket.getaddrinfo


def _gai(host, *rest, **kw):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _orig(host, *rest, **kw)


socket.getaddrinfo = _gai

from azure.core.exceptions import HttpResponseError  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402
from azure.keyvault.keys import KeyClient, KeyExportEncryptionAlgorithm, KeyReleasePolicy  # noqa: E402
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding  # noqa: E402


def b64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main():
    cred_file, ca, release_file = sys.argv[1], sys.argv[2], sys.argv[3]
    c = json.load(open(cred_file))
    r = json.load(open(release_file))
    cred = ClientSecretCredential(c["tenantId"], c["clientId"], c["clientSecret"], authority=c["authorityHost"],
                                  disable_instance_discovery=True, connection_verify=ca)
    kc = KeyClient(c["vaultUrl"], cred, connection_verify=ca)
    name = "py-skr-" + uuid.uuid4().hex[:6]
    policy = KeyReleasePolicy(json.dumps(r["policy"]).encode(), immutable=False)
    key = kc.create_rsa_key(name, size=2048, exportable=True, release_policy=policy)
    assert key.properties.exportable is True, key.properties.exportable
    got = kc.get_key(name)
    assert got.properties.release_policy is not None
    assert json.loads(got.properties.release_policy.encoded_policy) == r["policy"]
    print("exportable key with its policy ok")

    result = kc.release_key(name, r["token"], version=key.properties.version,
                            algorithm=KeyExportEncryptionAlgorithm.rsa_aes_key_wrap_256, nonce="py-nonce")
    header_b64, payload_b64, sig_b64 = result.value.split(".")
    header = json.loads(b64u(header_b64))
    ctx = ssl.create_default_context(cafile=ca)
    jwks = json.load(urllib.request.urlopen(header["jku"], context=ctx))
    signer = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    pub = rsa.RSAPublicNumbers(int.from_bytes(b64u(signer["e"]), "big"),
                               int.from_bytes(b64u(signer["n"]), "big")).public_key()
    pub.verify(b64u(sig_b64), (header_b64 + "." + payload_b64).encode(), padding.PKCS1v15(), hashes.SHA256())
    payload = json.loads(b64u(payload_b64))
    assert payload["request"]["nonce"] == "py-nonce"
    released = payload["response"]["key"]["key"]
    assert released["kid"] == key.id, (released["kid"], key.id)
    key_hsm = json.loads(b64u(released["key_hsm"]))
    assert key_hsm["header"]["enc"] == "RSA_AES_KEY_WRAP_256"
    blob = b64u(key_hsm["ciphertext"])
    runtime = serialization.load_pem_private_key(r["runtimeKeyPem"].encode(), password=None)
    k = runtime.key_size // 8
    aes = runtime.decrypt(blob[:k], padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                  label=None))
    der = aes_key_unwrap_with_padding(aes, blob[k:])
    private = serialization.load_der_private_key(der, password=None)
    assert private.public_key().public_numbers().n == int.from_bytes(key.key.n, "big")
    digest = hashlib.sha256(b"released to python").digest()
    from cryptography.hazmat.primitives.asymmetric import utils
    sig = private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    cc = CryptographyClient(key, cred, connection_verify=ca)
    assert cc.verify(SignatureAlgorithm.rs256, digest, sig).is_valid
    print("release ok")

    try:
        kc.release_key(name, "not-a-token")
        raise AssertionError("a bad token was accepted")
    except HttpResponseError as e:
        assert e.status_code == 403, e.status_code
    print("refusal ok")
    print("ALL OK")


if __name__ == "__main__":
    main()
