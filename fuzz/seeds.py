#!/usr/bin/env python3
"""Writes the seed inputs of one fuzz target into a directory: python3 fuzz/seeds.py TARGET DIR.

Seeds are made fresh on every run, never committed: the blob targets' from the golden vectors in
crates/keyhaven-blob/testdata, the certificate and key targets with the `openssl` command line, as the
keyhaven-crypto tests make theirs (a root, an intermediate and a leaf with every kind of name and usage, RSA and
EC keys). Each seed starts with the target's mode byte (see the target's doc comment); a few KB each.
"""
import base64
import json
import pathlib
import subprocess
import sys
import tempfile
import zlib

HERE = pathlib.Path(__file__).resolve().parent
TESTDATA = HERE.parent / "crates/keyhaven-blob/testdata"
UPN_OID = "1.3.6.1.4.1.311.20.2.3"


def unhex(path):
    return bytes.fromhex("".join(path.read_text().split()))


def openssl(*args, cwd):
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True).stdout


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def der_items(data):
    """The top-level (tag, content) items of DER bytes."""
    items, i = [], 0
    while i < len(data):
        tag, first = data[i], data[i + 1]
        i += 2
        if first < 0x80:
            n = first
        else:
            k = first & 0x7F
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        items.append((tag, data[i:i + n]))
        i += n
    return items


class Pki:
    """A root, an intermediate and leaves made with `openssl` in a scratch directory."""

    def __init__(self, d):
        self.d = d
        ext = d / "ext.cnf"
        ext.write_text(
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
            "[leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth,1.3.6.1.4.1.311.10.3.12\n"
            f"subjectAltName=DNS:www.contoso.com,DNS:*.contoso.com,email:admin@contoso.com,"
            f"otherName:{UPN_OID};UTF8:user@contoso.com,IP:127.0.0.1\n"
        )
        self.run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out", "root.pem",
                 "-subj", "/C=US/O=Contoso/CN=Root", "-days", "30", "-extensions", "ca", "-config", self.cnf())
        self.issue("inter", "rsa:2048", "/C=US/O=Contoso/OU=IT/CN=Intermediate", "root", "ca")
        self.issue("leaf", "rsa:2048",
                   "/DC=com/DC=contoso/C=US/ST=WA/L=Redmond/O=Contoso, Inc./OU=IT/2.5.4.97=VATDE-1/CN=www.contoso.com",
                   "inter", "leaf")
        self.run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec.key")
        self.run("req", "-x509", "-new", "-key", "ec.key", "-out", "ec.pem", "-subj", "/CN=ec.contoso.com",
                 "-days", "30", "-extensions", "leaf", "-config", self.cnf())

    def cnf(self):
        cnf = self.d / "req.cnf"
        if not cnf.exists():
            cnf.write_text("[req]\ndistinguished_name=dn\n[dn]\n" + (self.d / "ext.cnf").read_text())
        return str(cnf)

    def run(self, *args):
        return openssl(*args, cwd=self.d)

    def issue(self, name, keyspec, subj, issuer, section):
        self.run("req", "-new", "-newkey", keyspec, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subj, "-config", self.cnf())
        self.run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", "-extfile", str(self.d / "ext.cnf"),
                 "-extensions", section)

    def text(self, name):
        return (self.d / name).read_text()

    def der(self, cert):
        return self.run("x509", "-in", cert, "-outform", "DER")

    def pkcs12(self, password, *extra):
        return self.run("pkcs12", "-export", "-passout", f"pass:{password}", *extra)

    def key_der(self, key):
        """The key in its traditional DER form: PKCS#1 RSAPrivateKey or SEC 1 ECPrivateKey."""
        return self.run("pkey", "-in", key, "-traditional", "-outform", "DER")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def rsa_fields(pki, key):
    n, e, d, p, q, dp, dq, qi = [
        c.lstrip(b"\0") for _, c in der_items(der_items(pki.key_der(key))[0][1])[1:9]
    ]
    return {"kty": "RSA", "n": n, "e": e, "d": d, "p": p, "q": q, "dp": dp, "dq": dq, "qi": qi}


def ec_fields(pki, curve, crv):
    pki.run("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", f"{crv}.key")
    items = der_items(der_items(pki.key_der(f"{crv}.key"))[0][1])
    d = items[1][1]
    point = der_items([c for t, c in items if t == 0xA1][0])[0][1][1:]  # BIT STRING: unused-bits byte, 04 x y
    w = (len(point) - 1) // 2
    return {"kty": "EC", "crv": crv, "x": point[1:1 + w], "y": point[1 + w:], "d": d}


def jwk_json(fields, encode=b64url):
    out = {k: (v if isinstance(v, str) else encode(v)) for k, v in fields.items()}
    return json.dumps(out).encode()


FIELD_ORDER = ["n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi", "k"]
KTYS = ["RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM", "rsa"]
CURVES = ["P-256", "P-384", "P-521", "P-256K", "P-192", ""]


def jwk_fields_mode(fields):
    mask, body = 0, b""
    for bit, name in enumerate(FIELD_ORDER):
        if name in fields:
            mask |= 1 << bit
            body += len(fields[name]).to_bytes(2, "big") + fields[name]
    kty = KTYS.index(fields["kty"])
    crv = CURVES.index(fields.get("crv", ""))
    return bytes([1, kty, crv]) + mask.to_bytes(2, "big") + body


def seeds(target, d):
    if target == "vault_snapshot":
        golden = unhex(TESTDATA / "vault-snapshot-v1.hex")
        yield "golden", b"\x00" + golden
        # The golden vector's plaintext stream: its records and manifest as frames (sealing mode).
        recs = [b"first record", b"", bytes(j % 251 for j in range(2500)), b'{"name":"golden-secret"}']

        def frame(t, b):
            return bytes([t]) + len(b).to_bytes(4, "big") + b

        manifest = b'{"format":"keyhaven.vault-snapshot-test/1","records":4}'
        yield "golden-plaintext", b"\x01" + b"".join(frame(1, r) for r in recs) + frame(2, manifest)
        yield "empty-manifest", b"\x01" + frame(2, b"")
        return
    if target == "object_blob":
        yield "golden", b"\x00" + unhex(TESTDATA / "golden-secret-v1.hex")
        payload = (TESTDATA / "golden-secret-v1.payload.json").read_bytes()
        c = zlib.compressobj(1, zlib.DEFLATED, -15)
        yield "golden-payload", b"\x01" + c.compress(payload) + c.flush()
        return
    pki = Pki(d)
    chain = ["leaf.pem", "inter.pem", "root.pem"]
    if target == "x509_inspect":
        for cert in chain + ["ec.pem"]:
            yield cert.removesuffix(".pem"), b"\x00" + pki.der(cert)
        upn = tlv(0xA0, oid(UPN_OID) + tlv(0xA0, tlv(0x0C, b"user@contoso.com")))
        san = tlv(0x30, tlv(0x82, b"www.contoso.com") + tlv(0x81, b"admin@contoso.com") + upn
                  + tlv(0x87, bytes([127, 0, 0, 1])))
        yield "san", b"\x01" + san
        yield "key-usage", b"\x02" + tlv(0x03, bytes([0x05, 0xA0]))
        yield "key-usage-all", b"\x02" + tlv(0x03, bytes([0x07, 0xFF, 0x80]))
        yield "eku", b"\x03" + tlv(0x30, oid("1.3.6.1.5.5.7.3.1") + oid("1.3.6.1.5.5.7.3.2") + oid("2.999.1"))
    elif target == "pem_import":
        certs = "".join(pki.text(c) for c in chain)
        yield "pkcs8-chain", (pki.text("inter.pem") + pki.text("leaf.key") + pki.text("root.pem")
                              + pki.text("leaf.pem")).encode()
        pkcs1 = pki.run("pkey", "-in", "leaf.key", "-traditional").decode()
        yield "pkcs1", (pkcs1 + pki.text("leaf.pem")).encode()
        sec1 = pki.run("pkey", "-in", "ec.key", "-traditional").decode()
        public = pki.run("pkey", "-in", "ec.key", "-pubout").decode()  # a block of another type, refused
        yield "sec1-ec", (pki.run("ecparam", "-name", "secp384r1").decode() + sec1 + pki.text("ec.pem")).encode()
        yield "ec-public-key", (public + pki.text("ec.pem")).encode()
        yield "certificates-only", certs.encode()
        p12 = d / "nodes.p12"
        p12.write_bytes(pki.pkcs12("", "-in", "leaf.pem", "-inkey", "leaf.key", "-certfile", "inter.pem"))
        yield "bag-attributes", pki.run("pkcs12", "-in", str(p12), "-passin", "pass:", "-nodes")
    elif target == "pkcs12_import":
        yield "chain-no-password", b"\x00" + pki.pkcs12(
            "", "-in", "leaf.pem", "-inkey", "leaf.key", "-certfile", "inter.pem", "-name", "leaf")
        yield "password", b"\x01" + pki.pkcs12("fuzz", "-in", "leaf.pem", "-inkey", "leaf.key")
        yield "ec", b"\x00" + pki.pkcs12("", "-in", "ec.pem", "-inkey", "ec.key")
        yield "certificates-only", b"\x00" + pki.pkcs12("", "-in", "root.pem", "-nokeys")
        yield "low-iterations", b"\x01" + pki.pkcs12("fuzz", "-in", "ec.pem", "-inkey", "ec.key",
                                                     "-iter", "1", "-maciter")
    elif target == "jwk_import":
        rsa = rsa_fields(pki, "leaf.key")
        no_crt = {k: rsa[k] for k in ("kty", "n", "e", "d")}
        ecs = [ec_fields(pki, c, crv) for c, crv in
               [("P-256", "P-256"), ("P-384", "P-384"), ("P-521", "P-521"), ("secp256k1", "P-256K")]]
        octs = [{"kty": "oct", "k": bytes(range(n))} for n in (16, 32)]
        yield "rsa", b"\x00" + jwk_json(rsa)
        yield "rsa-no-crt-hsm", b"\x00" + jwk_json(dict(no_crt, kty="RSA-HSM"))
        yield "rsa-padded-base64", b"\x00" + jwk_json(rsa, lambda b: base64.b64encode(b).decode())
        for ec in ecs:
            yield "ec-" + ec["crv"], b"\x00" + jwk_json(ec)
        for o in octs:
            yield f"oct-{len(o['k'])}", b"\x00" + jwk_json(o)
        yield "fields-rsa", jwk_fields_mode(rsa)
        yield "fields-rsa-no-crt", jwk_fields_mode(no_crt)
        yield "fields-ec", jwk_fields_mode(ecs[0])
        yield "fields-oct", jwk_fields_mode(octs[0])
    elif target == "attestation_token":
        def b64u(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=")
        claims = {"iss": "https://attest.example", "exp": 4102444800, "x-ms-attestation-type": "sevsnpvm",
                  "x-ms-runtime": {"keys": [{"kid": "TpmEphemeralEncryptionKey", "kty": "RSA", "n": "AQAB",
                                             "e": "AQAB"}]}}
        for alg in ("RS256", "PS384", "ES256", "ES512", "none", "HS256"):
            header = {"alg": alg, "kid": "k1", "typ": "JWT"}
            token = b".".join([b64u(json.dumps(header).encode()), b64u(json.dumps(claims).encode()),
                               b64u(bytes(64 if alg.startswith("ES") else 256))])
            yield "token-" + alg, b"\x00" + token
        yield "two-parts", b"\x00" + b64u(b'{"alg":"RS256"}') + b"." + b64u(b"{}")
        for cert in ("leaf.pem", "ec.pem", "root.pem"):
            yield "x5c-" + cert.removesuffix(".pem"), b"\x01" + pki.der(cert)
    else:
        sys.exit(f"unknown target {target}")


def main():
    target, out = sys.argv[1], pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keyhaven-fuzz-seeds-") as tmp:
        for name, data in seeds(target, pathlib.Path(tmp)):
            (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
