#!/usr/bin/env python3
"""The official Python secrets and keys clients against Keyhaven: secrets (set, get, versions, update, backup,
delete, purge, restore), keys (RSA and EC create, CryptographyClient sign/verify/encrypt/decrypt/wrap/unwrap,
rotation policy, rotate, backup, delete, purge, restore, random bytes).

  python py_secrets_keys.py CREDENTIAL_JSON CA_PEM
Exit code 0 = every step passed.
"""
import hashlib
import json
import socket
import sys
import uuid

_orig = socket.getaddrinfo


def _gai(host, *rest, **kw):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _orig(host, *rest, **kw)


socket.getaddrinfo = _gai

from azure.identity import ClientSecretCredential  # noqa: E402
from azure.keyvault.keys import (  # noqa: E402
    KeyClient, KeyCurveName, KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction,
)
from azure.keyvault.keys.crypto import (  # noqa: E402
    CryptographyClient, EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm,
)
from azure.keyvault.secrets import SecretClient  # noqa: E402


def main():
    cred_file, ca = sys.argv[1], sys.argv[2]
    c = json.load(open(cred_file))
    cred = ClientSecretCredential(c["tenantId"], c["clientId"], c["clientSecret"], authority=c["authorityHost"],
                                  disable_instance_discovery=True, connection_verify=ca)
    vault = c["vaultUrl"]
    sfx = uuid.uuid4().hex[:6]

    sc = SecretClient(vault, cred, connection_verify=ca)
    name = "py-secret-" + sfx
    first = sc.set_secret(name, "hunter2", content_type="text/plain", tags={"env": "test"})
    sc.set_secret(name, "hunter3")
    assert sc.get_secret(name).value == "hunter3"
    assert sc.get_secret(name, first.properties.version).value == "hunter2"
    assert len(list(sc.list_properties_of_secret_versions(name))) == 2
    sc.update_secret_properties(name, first.properties.version, enabled=False)
    blob = sc.backup_secret(name)
    sc.begin_delete_secret(name).wait()
    sc.purge_deleted_secret(name)
    sc.restore_secret_backup(blob)
    assert sc.get_secret(name).value == "hunter3"
    print("secrets ok")

    kc = KeyClient(vault, cred, connection_verify=ca)
    rsa = kc.create_rsa_key("py-rsa-" + sfx, size=2048)
    ec = kc.create_ec_key("py-ec-" + sfx, curve=KeyCurveName.p_256)
    digest = hashlib.sha256(b"keyhaven").digest()
    for key, alg in [(rsa, SignatureAlgorithm.rs256), (rsa, SignatureAlgorithm.ps256), (ec, SignatureAlgorithm.es256)]:
        cc = CryptographyClient(key, cred, connection_verify=ca)
        sig = cc.sign(alg, digest).signature
        assert cc.verify(alg, digest, sig).is_valid
        assert not cc.verify(alg, hashlib.sha256(b"other").digest(), sig).is_valid
    cc = CryptographyClient(rsa, cred, connection_verify=ca)
    ct = cc.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"plaintext").ciphertext
    assert cc.decrypt(EncryptionAlgorithm.rsa_oaep_256, ct).plaintext == b"plaintext"
    wrapped = cc.wrap_key(KeyWrapAlgorithm.rsa_oaep, b"k" * 32).encrypted_key
    assert cc.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped).key == b"k" * 32
    policy = KeyRotationPolicy(lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D")], expires_in="P1Y")
    kc.update_key_rotation_policy(rsa.name, policy)
    assert kc.get_key_rotation_policy(rsa.name).expires_in == "P1Y"
    rotated = kc.rotate_key(rsa.name)
    assert rotated.properties.version != rsa.properties.version
    assert len(kc.get_random_bytes(16)) == 16
    blob = kc.backup_key(ec.name)
    kc.begin_delete_key(ec.name).wait()
    kc.purge_deleted_key(ec.name)
    restored = kc.restore_key_backup(blob)
    assert restored.key.x == ec.key.x
    print("ALL OK")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("FAILED:", type(e).__module__ + "." + type(e).__name__, str(e)[:800])
        sys.exit(1)
