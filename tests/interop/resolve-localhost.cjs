// Preloaded with `node -r`: names under .localhost resolve to 127.0.0.1 in this process (RFC 6761), as
// systemd-resolved does system-wide, so vault hosts like default.vault.localhost work without /etc/hosts.
const dns = require("dns");
const lookup = dns.lookup;
dns.lookup = function (host, opts, cb) {
  if (typeof host === "string" && host.endsWith(".localhost")) host = "127.0.0.1";
  return lookup.call(this, host, opts, cb);
};
