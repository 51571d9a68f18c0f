#!/usr/bin/env python3
"""Azure's own access-control client (KeyVaultAccessControlClient, azure-keyvault-administration) against Keyhaven:
list role definitions, give a new principal Key Vault Secrets User on one secret, that principal's SecretClient reads
that secret and is refused another, the assignment is deleted and the read is refused again.

  python py_access_control.py CREDENTIAL_JSON CA_PEM
Exit code 0 = every step passed.
"""
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
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope  # noqa: E402
from azure.keyvault.secrets import SecretClient  # noqa: E402


def refused(call):
    try:
        call()
    except HttpResponseError as e:
        assert e.status_code == 403, e.status_code
        body = e.response.json()
        assert body["error"]["innererror"]["code"] == "ForbiddenByRbac", body
        return True
    raise AssertionError("the call was not refused")


def main():
    cred_file, ca = sys.argv[1], sys.argv[2]
    c = json.load(open(cred_file))
    authority = c["authorityHost"]
    admin = ClientSecretCredential(c["tenantId"], c["clientId"], c["clientSecret"], authority=authority,
                                   disable_instance_discovery=True, connection_verify=ca)
    vault = c["vaultUrl"]
    sfx = uuid.uuid4().hex[:6]
    allowed_name, other_name = "rbac-one-" + sfx, "rbac-two-" + sfx

    sc = SecretClient(vault, admin, connection_verify=ca)
    sc.set_secret(allowed_name, "for the app")
    sc.set_secret(other_name, "not for the app")

    acl = KeyVaultAccessControlClient(vault, admin, connection_verify=ca)
    definitions = list(acl.list_role_definitions(KeyVaultRoleScope.GLOBAL))
    by_name = {d.role_name: d for d in definitions}
    for expected in ["Key Vault Administrator", "Key Vault Secrets User", "Key Vault Reader",
                     "Key Vault Data Access Administrator", "Keyhaven Backup Operator"]:
        assert expected in by_name, sorted(by_name)
    secrets_user = by_name["Key Vault Secrets User"]
    assert secrets_user.name == "4633458b-17de-408a-b874-0445c86b69e6", secrets_user.name
    assert any("Microsoft.KeyVault/vaults/secrets/getSecret/action" in p.data_actions
               for p in secrets_user.permissions), secrets_user.permissions
    print("role definitions ok")

    # A new principal, through Keyhaven's management API with a management token.
    token = admin.get_token(authority + "/.default").token
    req = urllib.request.Request(authority + "/_keyhaven/principals", method="POST",
                                 data=json.dumps({"displayName": "py-app-" + sfx}).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=ca)
    app = json.load(urllib.request.urlopen(req, context=ctx))
    app_cred = ClientSecretCredential(c["tenantId"], app["clientId"], app["clientSecret"], authority=authority,
                                      disable_instance_discovery=True, connection_verify=ca)
    app_sc = SecretClient(vault, app_cred, connection_verify=ca)
    refused(lambda: app_sc.get_secret(allowed_name))
    print("no role, no access ok")

    scope = "/secrets/" + allowed_name
    assignment = acl.create_role_assignment(scope, secrets_user.id, app["objectId"])
    assert assignment.properties.principal_id == app["objectId"]
    assert assignment.properties.scope == scope, assignment.properties.scope
    listed = [a.name for a in acl.list_role_assignments(scope)]
    assert assignment.name in listed, listed
    got = acl.get_role_assignment(scope, assignment.name)
    assert got.properties.role_definition_id.endswith(secrets_user.name), got.properties.role_definition_id
    assert app_sc.get_secret(allowed_name).value == "for the app"
    refused(lambda: app_sc.get_secret(other_name))
    names = [p.name for p in app_sc.list_properties_of_secrets()]
    assert names == [allowed_name], names
    print("assignment at one secret ok")

    acl.delete_role_assignment(scope, assignment.name)
    assert assignment.name not in [a.name for a in acl.list_role_assignments(scope)]
    refused(lambda: app_sc.get_secret(allowed_name))
    print("assignment deleted ok")

    # The principal cannot give itself a role.
    app_acl = KeyVaultAccessControlClient(vault, app_cred, connection_verify=ca)
    refused(lambda: app_acl.create_role_assignment(scope, secrets_user.id, app["objectId"]))
    print("ALL OK")


if __name__ == "__main__":
    main()
