#!/usr/bin/env python3
"""Azure's own full-backup client (KeyVaultBackupClient, azure-keyvault-administration) against Keyhaven, with
Blob Storage served by Azurite: a vault's secrets and keys (several versions each, and enough data for a blob of
several blocks) are backed up into a container
through a SAS token, deleted and purged, restored from the folder URL the backup reported — every object and version
back, as it was — and one key is restored alone (selective key restore). Storage named over plain HTTP off loopback
is refused.

  python py_backup_storage.py CREDENTIAL_JSON CA_PEM AZURITE_BLOB_ENDPOINT
Exit code 0 = every step passed.
"""
import base64
import datetime
import json
import os
import socket
import sys
import uuid

_orig = socket.getaddrinfo


def _gai(host, *rest, **kw):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _orig(host, *rest, **kw)


socket.getaddrinfo = _gai

from azure.core.exceptions import HttpResponseError  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402
from azure.keyvault.administration import KeyVaultBackupClient  # noqa: E402
from azure.keyvault.keys import KeyClient  # noqa: E402
from azure.keyvault.secrets import SecretClient  # noqa: E402
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas  # noqa: E402

# Azurite's well-known development account (public, documented with the emulator).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def container_with_sas(endpoint):
    """A fresh container in Azurite and a SAS token for it (read, write, create, list)."""
    service = BlobServiceClient(endpoint, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY})
    name = "backups-" + uuid.uuid4().hex[:8]
    container = service.create_container(name)
    sas = generate_container_sas(
        ACCOUNT, name, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, create=True, list=True, add=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    return container, f"{endpoint}/{name}", sas


def secret_state(sc, names):
    """Every version of every named secret: {name: {version: (value, enabled)}} (a disabled version's value cannot
    be read)."""
    out = {}
    for n in names:
        versions = {}
        for p in sc.list_properties_of_secret_versions(n):
            value = sc.get_secret(n, p.version).value if p.enabled else None
            versions[p.version] = (value, p.enabled)
        out[n] = versions
    return out


def key_state(kc, names):
    """Every version of every named key: {name: {version: public part}}."""
    out = {}
    for n in names:
        versions = {}
        for p in kc.list_properties_of_key_versions(n):
            k = kc.get_key(n, p.version).key
            versions[p.version] = (k.kty, bytes(k.n or b""), bytes(k.x or b""))
        out[n] = versions
    return out


def wipe(sc, kc, secrets, keys):
    for n in secrets:
        sc.begin_delete_secret(n).wait()
        sc.purge_deleted_secret(n)
    for n in keys:
        kc.begin_delete_key(n).wait()
        kc.purge_deleted_key(n)


def main():
    cred_file, ca, endpoint = sys.argv[1], sys.argv[2], sys.argv[3].rstrip("/")
    c = json.load(open(cred_file))
    cred = ClientSecretCredential(c["tenantId"], c["clientId"], c["clientSecret"], authority=c["authorityHost"],
                                  disable_instance_discovery=True, connection_verify=ca)
    vault = c["vaultUrl"]
    sc = SecretClient(vault, cred, connection_verify=ca)
    kc = KeyClient(vault, cred, connection_verify=ca)
    backup = KeyVaultBackupClient(vault, cred, connection_verify=ca)

    sfx = uuid.uuid4().hex[:6]
    secrets = [f"bk-secret-{i}-{sfx}" for i in range(3)]
    for i, n in enumerate(secrets):
        first = sc.set_secret(n, f"first value {i}")
        sc.set_secret(n, f"second value {i}", content_type="text/plain")
        sc.update_secret_properties(n, first.properties.version, enabled=False)
    keys = [f"bk-rsa-{sfx}", f"bk-ec-{sfx}"]
    kc.create_rsa_key(keys[0], size=2048)
    kc.create_rsa_key(keys[0], size=2048)
    kc.create_ec_key(keys[1], curve="P-256")
    # Enough data for the backup to span several 4 MiB blocks of its blob.
    bulk = {f"bk-bulk-{i:03}-{sfx}": base64.b64encode(os.urandom(18000)).decode() for i in range(240)}
    for n, v in bulk.items():
        sc.set_secret(n, v)
    secrets_before, keys_before = secret_state(sc, secrets), key_state(kc, keys)
    assert all(len(v) == 2 for v in secrets_before.values()), secrets_before
    assert len(keys_before[keys[0]]) == 2, keys_before

    container, container_url, sas = container_with_sas(endpoint)

    # The pre-backup check, then the backup: the poller ends with the folder URL.
    backup.begin_pre_backup(container_url, sas_token=sas).result()
    result = backup.begin_backup(container_url, sas_token=sas).result()
    folder_url = result.folder_url
    assert folder_url.startswith(container_url + "/"), (folder_url, container_url)
    folder = folder_url[len(container_url) + 1:]
    blobs = [b.name for b in container.list_blobs()]
    assert blobs and all(b.startswith(folder + "/") for b in blobs), blobs
    assert sum(b.size for b in container.list_blobs()) > 5_000_000
    committed, _ = container.get_blob_client(blobs[0]).get_block_list("committed")
    assert len(committed) >= 2, f"{len(committed)} blocks"
    print("backup ok:", folder, blobs)

    # Everything gone, then the whole vault back from the folder.
    wipe(sc, kc, secrets + list(bulk), keys)
    assert not any(p.name in secrets for p in sc.list_properties_of_secrets())
    backup.begin_pre_restore(folder_url, sas_token=sas).result()
    backup.begin_restore(folder_url, sas_token=sas).result()
    assert secret_state(sc, secrets) == secrets_before, "secrets and their versions restored"
    assert key_state(kc, keys) == keys_before, "keys and their versions restored"
    assert all(sc.get_secret(n).value == v for n, v in bulk.items()), "every bulk secret restored"
    print("full restore ok")

    # One key alone.
    kc.begin_delete_key(keys[1]).wait()
    kc.purge_deleted_key(keys[1])
    backup.begin_restore(folder_url, sas_token=sas, key_name=keys[1]).result()
    assert key_state(kc, [keys[1]]) == {keys[1]: keys_before[keys[1]]}
    print("selective key restore ok")

    # A restore from a folder with no backup fails, and says why.
    try:
        backup.begin_restore(container_url + "/mhsm-nothing-here", sas_token=sas).result()
        raise AssertionError("a restore from an empty folder succeeded")
    except HttpResponseError as e:
        assert "No Keyhaven backup" in str(e), str(e)

    # Plain HTTP to anything but loopback is refused before anything is sent.
    try:
        backup.begin_backup("http://10.11.12.13/acct/backups", sas_token="sv=1&sig=x").result()
        raise AssertionError("plain HTTP off loopback was accepted")
    except HttpResponseError as e:
        assert e.status_code == 400, e.status_code
        assert "plain http is allowed only to a loopback address" in str(e), str(e)
    print("refusals ok")
    print("ALL OK")


if __name__ == "__main__":
    main()
