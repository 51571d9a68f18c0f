// The official JS certificates client (@azure/keyvault-certificates) against Keyhaven: create self-signed and
// wait, get, policy, versions, the managed secret, pending create + cancel + delete, import (PKCS#12 from the
// managed secret, PEM), backup/restore, delete/recover/purge, contacts, issuers.
// Run: NODE_EXTRA_CA_CERTS=ca.pem node -r ./resolve-localhost.cjs js_certificates.mjs CREDENTIAL_JSON
import { readFileSync } from "node:fs";
import { CertificateClient, WellKnownIssuer } from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";
import { ClientSecretCredential } from "@azure/identity";

const c = JSON.parse(readFileSync(process.argv[2], "utf8"));
const cred = new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret,
  { authorityHost: c.authorityHost, disableInstanceDiscovery: true });
const cc = new CertificateClient(c.vaultUrl, cred, { retryOptions: { maxRetries: 0 } });
const sc = new SecretClient(c.vaultUrl, cred, { retryOptions: { maxRetries: 0 } });
const check = (ok, what) => { if (!ok) throw new Error("check failed: " + what); };
const sfx = String(process.pid);

try {
  const name = "js-self-" + sfx;
  const poller = await cc.beginCreateCertificate(name, {
    issuerName: WellKnownIssuer.Self, subject: "CN=js.contoso.test", validityInMonths: 2,
    subjectAlternativeNames: { dnsNames: ["js.contoso.test"] }, contentType: "application/x-pem-file",
  }, { updateIntervalInMs: 200 });
  const cert = await poller.pollUntilDone();
  check(cert.cer && cert.cer.length > 100, "cer");
  check(cert.policy.subject === "CN=js.contoso.test", "policy subject " + cert.policy.subject);
  console.log("created", cert.properties.id);
  const got = await cc.getCertificate(name);
  check(Buffer.compare(Buffer.from(got.cer), Buffer.from(cert.cer)) === 0, "get");
  const policy = await cc.getCertificatePolicy(name);
  check(policy.validityInMonths === 2 && policy.issuerName === "Self", "policy");
  // (This SDK's updateCertificatePolicy resolves to an empty object; read the policy back.)
  await cc.updateCertificatePolicy(name, { ...policy, validityInMonths: 4 });
  const updated = await cc.getCertificatePolicy(name);
  check(updated.validityInMonths === 4, "policy update");
  const secret = await sc.getSecret(name);
  check(secret.value.includes("-----BEGIN PRIVATE KEY-----") && secret.value.includes("CERTIFICATE"), "pem secret");
  check(secret.properties.managed === true, "managed");
  await (await cc.beginCreateCertificate(name, updated, { updateIntervalInMs: 200 })).pollUntilDone();
  let versions = 0;
  for await (const _ of cc.listPropertiesOfCertificateVersions(name)) versions++;
  check(versions === 2, "versions " + versions);

  // Pending: the poller's operation stays in progress; cancel it, then delete it.
  const pend = "js-pend-" + sfx;
  await cc.beginCreateCertificate(pend, { issuerName: "Unknown", subject: "CN=pending" });
  const op = await cc.getCertificateOperation(pend);
  check(op.getOperationState().certificateOperation.status === "inProgress", "pending");
  check(op.getOperationState().certificateOperation.csr.length > 100, "csr");
  await op.cancelOperation();
  check((await cc.getCertificateOperation(pend)).getOperationState().certificateOperation.status === "cancelled",
    "cancelled");
  await cc.deleteCertificateOperation(pend);

  // Import: the PEM from the managed secret into another certificate.
  const imported = await cc.importCertificate("js-imp-" + sfx, Buffer.from(secret.value),
    { policy: { contentType: "application/x-pem-file", issuerName: "Unknown", subject: "CN=js.contoso.test" } });
  check(Buffer.compare(Buffer.from(imported.cer), Buffer.from(got.cer)) === 0, "import pem");
  console.log("imported", imported.properties.id);

  // Backup, delete, purge, restore; delete and recover.
  const blob = await cc.backupCertificate(name);
  await (await cc.beginDeleteCertificate(name, { intervalInMs: 200 })).pollUntilDone();
  await cc.purgeDeletedCertificate(name);
  const restored = await cc.restoreCertificateBackup(blob);
  check(restored.name === name, "restore");
  await (await cc.beginDeleteCertificate(name, { intervalInMs: 200 })).pollUntilDone();
  await (await cc.beginRecoverDeletedCertificate(name, { intervalInMs: 200 })).pollUntilDone();
  check((await sc.getSecret(name)).properties.managed === true, "recovered secret");

  await cc.setContacts([{ email: "pki@contoso.test", name: "PKI" }]);
  check((await cc.getContacts())[0].email === "pki@contoso.test", "contacts");
  await cc.deleteContacts();
  await cc.createIssuer("js-issuer-" + sfx, "Test", { accountId: "acct", password: "pw" });
  check((await cc.getIssuer("js-issuer-" + sfx)).accountId === "acct", "issuer");
  await cc.deleteIssuer("js-issuer-" + sfx);
  console.log("ALL OK");
} catch (e) {
  console.log("FAILED:", e.name, e.statusCode ?? "", String(e.message).slice(0, 800));
  process.exit(1);
}
