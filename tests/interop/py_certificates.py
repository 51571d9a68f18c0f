#!/usr/bin/env python3
"""The official Python certificates client (azure-keyvault-certificates) against Keyhaven: create (self-signed and
via a signing request merged later), get, policy, versions, import (PKCS#12 with a password, PEM), the managed
secret with the key, backup/restore, delete/recover/purge, contacts, issuers.

  python py_certificates.py CREDENTIAL_JSON CA_PEM
Exit code 0 = every step passed.
"""
import base64
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
from azure.keyvault.certificates import (  # noqa: E402
    CertificateClient, CertificateContact, CertificatePolicy, CertificateContentType, KeyType, KeyUsageType,
    WellKnownIssuerNames,
)
from azure.keyvault.secrets import SecretClient  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402
import datetime  # noqa: E402


def main():
    cred_file, ca = sys.argv[1], sys.argv[2]
    c = json.load(open(cred_file))
    cred = ClientSecretCredential(c["tenantId"], c["clientId"], c["clientSecret"], authority=c["authorityHost"],
                                  disable_instance_discovery=True, connection_verify=ca)
    vault = c["vaultUrl"]
    cc = CertificateClient(vault, cred, connection_verify=ca)
    sc = SecretClient(vault, cred, connection_verify=ca)
    sfx = uuid.uuid4().hex[:6]

    # Self-signed, with SANs, key usage and EKU.
    name = "py-self-" + sfx
    policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.self, subject="CN=py.contoso.test",
                               san_dns_names=["py.contoso.test"], key_usage=[KeyUsageType.digital_signature],
                               enhanced_key_usage=["1.3.6.1.5.5.7.3.1"], validity_in_months=3,
                               content_type=CertificateContentType.pkcs12)
    cert = cc.begin_create_certificate(name, policy).result()
    print("created", cert.id, cert.properties.x509_thumbprint.hex())
    parsed = x509.load_der_x509_certificate(bytes(cert.cer))
    assert parsed.subject.rfc4514_string() == "CN=py.contoso.test", parsed.subject
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["py.contoso.test"]
    assert cert.policy.subject == "CN=py.contoso.test"
    assert cert.policy.validity_in_months == 3
    got = cc.get_certificate(name)
    assert got.cer == cert.cer
    pol = cc.get_certificate_policy(name)
    assert pol.issuer_name == "Self" and pol.key_type == KeyType.rsa and pol.key_size == 2048, pol
    updated = cc.update_certificate_policy(name, CertificatePolicy(issuer_name="Self", subject=pol.subject,
                                                                   validity_in_months=6))
    assert updated.validity_in_months == 6 and updated.san_dns_names == ["py.contoso.test"], updated
    cc.begin_create_certificate(name, cc.get_certificate_policy(name)).result()
    assert len(list(cc.list_properties_of_certificate_versions(name))) == 2
    # The managed secret: PKCS#12 with the key and the certificate.
    secret = sc.get_secret(name)
    key, leaf, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
    assert key is not None and leaf is not None
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
    print("managed secret ok", secret.properties.content_type)

    # Signing request, merged after a CA signed it.
    pend = "py-pend-" + sfx
    cc.begin_create_certificate(pend, CertificatePolicy(issuer_name=WellKnownIssuerNames.unknown,
                                                        subject="CN=pending.contoso.test"))
    op = cc.get_certificate_operation(pend)
    assert op.status == "inProgress", op.status
    csr = x509.load_der_x509_csr(bytes(op.csr))
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Py CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(ca_key, hashes.SHA256()))
    signed = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_name).public_key(csr.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now)
              .not_valid_after(now + datetime.timedelta(days=30)).sign(ca_key, hashes.SHA256()))
    merged = cc.merge_certificate(pend, [signed.public_bytes(serialization.Encoding.DER),
                                         ca_cert.public_bytes(serialization.Encoding.DER)])
    assert bytes(merged.cer) == signed.public_bytes(serialization.Encoding.DER)
    assert cc.get_certificate_operation(pend).status == "completed"
    print("merged", merged.id)

    # Import PKCS#12 with a password and a chain, and PEM.
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME,
                                                                                       "imported.py")]))
                 .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30)).sign(ca_key, hashes.SHA256()))
    pfx = pkcs12.serialize_key_and_certificates(b"leaf", leaf_key, leaf_cert, [ca_cert],
                                                serialization.BestAvailableEncryption(b"pfx-pass"))
    imp = "py-imp-" + sfx
    try:
        cc.import_certificate(imp, pfx, password="wrong")
        raise AssertionError("a wrong password was accepted")
    except Exception as e:  # HttpResponseError
        assert getattr(e, "status_code", None) == 400, e
    imported = cc.import_certificate(imp, pfx, password="pfx-pass")
    assert bytes(imported.cer) == leaf_cert.public_bytes(serialization.Encoding.DER)
    k2, l2, extra = pkcs12.load_key_and_certificates(base64.b64decode(sc.get_secret(imp).value), None)
    assert k2.private_numbers() == leaf_key.private_numbers()
    assert [e.subject for e in extra] == [ca_cert.subject]
    pem = (leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
           + leaf_cert.public_bytes(serialization.Encoding.PEM)).decode()
    pem_name = "py-pem-" + sfx
    cc.import_certificate(pem_name, pem.encode(),
                          policy=CertificatePolicy(issuer_name="Unknown", subject="CN=imported.py",
                                                   content_type=CertificateContentType.pem))
    assert "BEGIN CERTIFICATE" in sc.get_secret(pem_name).value
    print("imported", imported.id)

    # Backup, delete, purge, restore.
    blob = cc.backup_certificate(name)
    cc.begin_delete_certificate(name).wait()
    cc.purge_deleted_certificate(name)
    restored = cc.restore_certificate_backup(blob)
    assert restored.name == name
    assert sc.get_secret(name).properties.managed
    listed = {p.name: p for p in cc.list_properties_of_certificates()}
    assert name in listed and listed[name].x509_thumbprint == restored.properties.x509_thumbprint
    # Delete and recover.
    cc.begin_delete_certificate(imp).wait()
    deleted = cc.get_deleted_certificate(imp)
    assert deleted.recovery_id
    assert any(d.name == imp for d in cc.list_deleted_certificates())
    cc.begin_recover_deleted_certificate(imp).wait()
    assert cc.get_certificate(imp).id

    # Contacts and issuers.
    cc.set_contacts([CertificateContact(email="pki@contoso.test", name="PKI")])
    assert [x.email for x in cc.get_contacts()] == ["pki@contoso.test"]
    cc.delete_contacts()
    cc.create_issuer("py-issuer-" + sfx, "Test", account_id="acct", password="issuer-pass")
    assert cc.get_issuer("py-issuer-" + sfx).account_id == "acct"
    assert any(i.name == "py-issuer-" + sfx for i in cc.list_properties_of_issuers())
    cc.delete_issuer("py-issuer-" + sfx)
    print("ALL OK")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("FAILED:", type(e).__module__ + "." + type(e).__name__, str(e)[:800])
        sys.exit(1)
